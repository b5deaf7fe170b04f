"""Conference mixer: bit-exact two-party passthrough, sums, the roles (listen, whisper, barge,
intercept, hold, muted) told apart by each leg's own tone, saturation, and a whole box in one tick."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.media import FRAME_SAMPLES, MediaError
from appliance.media.conference import BLOCK_LEGS, MAX_ROOM_LEGS, ConferenceError, LoopingPlayer, Mixer, Role

# Multiples of 50 Hz: whole cycles in a 160-sample frame, so each falls in one FFT bin.
TONE_HZ = {"caller": 400, "agent": 700, "supervisor": 1100, "third": 1500}
MUSIC_HZ = 2000
AMPLITUDE = 2000


def tone(frequency: int, amplitude: int = AMPLITUDE) -> np.ndarray:
    t = np.arange(FRAME_SAMPLES)
    return np.rint(amplitude * np.sin(2 * np.pi * frequency * t / 8000)).astype(np.int16)


def frequencies_in(frame: np.ndarray) -> set[int]:
    """The 50 Hz bins of FRAME holding at least a quarter of one test tone's energy."""
    spectrum = np.abs(np.fft.rfft(frame.astype(np.float64)))
    expected = AMPLITUDE * FRAME_SAMPLES / 2
    return {int(k * 50) for k in np.flatnonzero(spectrum > expected / 4)}


def tones_for(legs: list[str]) -> dict[str, np.ndarray]:
    return {leg: tone(TONE_HZ[leg]) for leg in legs}


def heard(mixer: Mixer, inputs: dict[str, np.ndarray]) -> dict[str, set[int]]:
    return {leg: frequencies_in(frame) for leg, frame in mixer.mix(inputs).items()}


def hz(*legs: str) -> set[int]:
    return {TONE_HZ[leg] for leg in legs}


def call(*legs: tuple[str, str]) -> Mixer:
    mixer = Mixer()
    for leg, role in legs:
        mixer.join("call", leg, role)
    return mixer


# -- two parties and more --------------------------------------------------------------------
def test_two_parties_hear_each_other_bit_exact() -> None:
    rng = np.random.default_rng(1)
    mixer = call(("caller", "talk"), ("agent", "talk"))
    for _ in range(20):
        a = rng.integers(-32768, 32768, FRAME_SAMPLES, dtype=np.int16)
        b = rng.integers(-32768, 32768, FRAME_SAMPLES, dtype=np.int16)
        a[:2], b[:2] = (-32768, 32767), (32767, -32768)  # the extremes pass unchanged too
        out = mixer.mix({"caller": a, "agent": b})
        assert out["caller"].dtype == np.int16 and out["caller"].shape == (FRAME_SAMPLES,)
        assert np.array_equal(out["caller"], b)
        assert np.array_equal(out["agent"], a)


def test_a_leg_without_input_is_silence() -> None:
    mixer = call(("caller", "talk"), ("agent", "talk"))
    voice = tone(400)
    out = mixer.mix({"caller": voice, "agent": None})
    assert np.array_equal(out["agent"], voice)
    assert not out["caller"].any()
    out = mixer.mix({})
    assert set(out) == {"caller", "agent"} and not any(frame.any() for frame in out.values())


def test_inputs_of_legs_in_no_room_are_ignored() -> None:
    mixer = call(("caller", "talk"), ("agent", "talk"))
    out = mixer.mix({"caller": tone(400), "idle-timeslot": tone(700)})
    assert set(out) == {"caller", "agent"}
    assert frequencies_in(out["agent"]) == {400} and not out["caller"].any()


def test_three_way_each_hears_the_exact_sum_of_the_others() -> None:
    rng = np.random.default_rng(2)
    mixer = call(("caller", "talk"), ("agent", "talk"), ("third", "talk"))
    frames = {leg: rng.integers(-8000, 8000, FRAME_SAMPLES, dtype=np.int16)
              for leg in ("caller", "agent", "third")}
    out = mixer.mix(frames)
    wide = {leg: frame.astype(np.int32) for leg, frame in frames.items()}
    assert np.array_equal(out["caller"], wide["agent"] + wide["third"])
    assert np.array_equal(out["agent"], wide["caller"] + wide["third"])
    assert np.array_equal(out["third"], wide["caller"] + wide["agent"])
    assert heard(mixer, tones_for(["caller", "agent", "third"])) == {
        "caller": hz("agent", "third"), "agent": hz("caller", "third"), "third": hz("caller", "agent")}


def test_sums_saturate_instead_of_wrapping() -> None:
    mixer = call(("a", "talk"), ("b", "talk"), ("c", "talk"))
    loud = np.full(FRAME_SAMPLES, 30000, dtype=np.int16)
    out = mixer.mix({"a": loud, "b": loud, "c": loud})
    assert all(np.all(frame == 32767) for frame in out.values())
    out = mixer.mix({"a": -loud, "b": -loud, "c": np.full(FRAME_SAMPLES, -32768, dtype=np.int16)})
    assert np.all(out["c"] == -32768) and np.all(out["a"] == -32768)
    half = np.full(FRAME_SAMPLES, 20000, dtype=np.int16)
    out = mixer.mix({"a": half, "b": -half, "c": half})  # no clipping where the sum fits
    assert np.all(out["a"] == 0) and np.all(out["b"] == 32767) and np.all(out["c"] == 0)


# -- the supervisor's features ----------------------------------------------------------------
def test_listen_hears_both_and_nobody_hears_the_supervisor() -> None:
    mixer = call(("caller", "talk"), ("agent", "talk"), ("supervisor", "listen"))
    assert heard(mixer, tones_for(["caller", "agent", "supervisor"])) == {
        "caller": hz("agent"), "agent": hz("caller"), "supervisor": hz("caller", "agent")}


def test_listen_keeps_the_two_party_path_bit_exact() -> None:
    rng = np.random.default_rng(3)
    mixer = call(("caller", "talk"), ("agent", "talk"), ("supervisor", "listen"))
    frames = {leg: rng.integers(-32768, 32768, FRAME_SAMPLES, dtype=np.int16)
              for leg in ("caller", "agent", "supervisor")}
    out = mixer.mix(frames)
    assert np.array_equal(out["caller"], frames["agent"])
    assert np.array_equal(out["agent"], frames["caller"])


def test_whisper_reaches_the_agent_only() -> None:
    mixer = call(("caller", "talk"), ("agent", "talk"))
    mixer.join("call", "supervisor", "whisper", whisper_to=["agent"])
    assert heard(mixer, tones_for(["caller", "agent", "supervisor"])) == {
        "caller": hz("agent"), "agent": hz("caller", "supervisor"), "supervisor": hz("caller", "agent")}
    assert mixer.whisper_targets("supervisor") == {"agent"}


def test_listen_then_whisper_then_barge() -> None:
    mixer = call(("caller", "talk"), ("agent", "talk"), ("supervisor", "listen"))
    inputs = tones_for(["caller", "agent", "supervisor"])
    assert heard(mixer, inputs)["agent"] == hz("caller")
    mixer.set_role("supervisor", "whisper", whisper_to=["agent"])
    assert heard(mixer, inputs)["agent"] == hz("caller", "supervisor")
    assert heard(mixer, inputs)["caller"] == hz("agent")
    mixer.set_role("supervisor", Role.TALK)  # 强插: all hear all
    assert mixer.whisper_targets("supervisor") == frozenset()
    assert heard(mixer, inputs) == {
        "caller": hz("agent", "supervisor"), "agent": hz("caller", "supervisor"),
        "supervisor": hz("caller", "agent")}


def test_intercept_drops_the_agent_and_leaves_a_bit_exact_pair() -> None:
    rng = np.random.default_rng(4)
    mixer = call(("caller", "talk"), ("agent", "talk"), ("supervisor", "listen"))
    mixer.set_role("supervisor", "talk")
    assert mixer.leave("agent") == "call"
    frames = {leg: rng.integers(-32768, 32768, FRAME_SAMPLES, dtype=np.int16)
              for leg in ("caller", "agent", "supervisor")}
    out = mixer.mix(frames)
    assert set(out) == {"caller", "supervisor"}
    assert np.array_equal(out["caller"], frames["supervisor"])
    assert np.array_equal(out["supervisor"], frames["caller"])


def test_whisper_to_a_leg_on_hold_or_elsewhere_is_not_heard() -> None:
    mixer = call(("caller", "talk"), ("agent", "hold"))
    mixer.join("call", "supervisor", "whisper", whisper_to=["agent", "third"])
    mixer.join("other-call", "third", "talk")
    mixer.join("other-call", "stranger", "talk")
    result = heard(mixer, tones_for(["caller", "agent", "supervisor", "third"]))
    assert result["agent"] == set()  # on hold, no source: silence, no whisper
    assert result["third"] == set()  # the stranger is silent; the whisper stays in its room
    assert result["stranger"] == hz("third")
    assert result["caller"] == set() and result["supervisor"] == hz("caller")


def test_muted_hears_the_talkers_and_is_heard_by_nobody() -> None:
    mixer = call(("caller", "talk"), ("agent", "muted"), ("third", "talk"))
    assert heard(mixer, tones_for(["caller", "agent", "third"])) == {
        "caller": hz("third"), "agent": hz("caller", "third"), "third": hz("caller")}


# -- hold ---------------------------------------------------------------------------------------
def test_hold_hears_the_music_and_is_not_heard() -> None:
    music = np.tile(tone(MUSIC_HZ), 3) + np.repeat(np.arange(3, dtype=np.int16), FRAME_SAMPLES)
    player = LoopingPlayer(music)
    mixer = call(("caller", "talk"), ("agent", "talk"), ("third", "talk"))
    mixer.set_hold_source("call", player)
    mixer.set_role("caller", "hold")
    inputs = tones_for(["caller", "agent", "third"])
    out = mixer.mix(inputs)
    assert np.array_equal(out["caller"], music[:FRAME_SAMPLES])  # the music, and only it
    assert frequencies_in(out["agent"]) == hz("third")
    assert frequencies_in(out["third"]) == hz("agent")
    assert np.array_equal(mixer.mix(inputs)["caller"], music[FRAME_SAMPLES:2 * FRAME_SAMPLES])


def test_music_advances_only_while_someone_is_held() -> None:
    player = LoopingPlayer(np.arange(4 * FRAME_SAMPLES, dtype=np.int16))
    mixer = call(("caller", "hold"), ("agent", "talk"))
    mixer.set_hold_source("call", player)
    first = mixer.mix({})["caller"]
    mixer.set_role("caller", "talk")
    for _ in range(5):
        assert not mixer.mix({})["caller"].any()
    assert player.position == FRAME_SAMPLES
    mixer.set_role("caller", "hold")
    again = mixer.mix({})["caller"]  # held again: on where it stopped
    assert first[0] == 0 and again[0] == FRAME_SAMPLES


def test_every_held_leg_of_a_room_hears_the_same_frame() -> None:
    player = LoopingPlayer(np.arange(2 * FRAME_SAMPLES, dtype=np.int16))
    mixer = call(("caller", "hold"), ("third", "hold"), ("agent", "talk"))
    mixer.set_hold_source("call", player)
    out = mixer.mix({"agent": tone(700)})
    assert np.array_equal(out["caller"], out["third"]) and player.position == FRAME_SAMPLES
    assert not out["agent"].any()


def test_hold_factory_gives_each_room_its_own_player_once() -> None:
    made: list[str] = []

    def factory(room: str) -> LoopingPlayer:
        made.append(room)
        return LoopingPlayer(tone(MUSIC_HZ))

    mixer = Mixer(hold_factory=factory)
    mixer.join("a", "caller-a", "hold")
    mixer.join("b", "caller-b", "talk")
    mixer.join("b", "agent-b", "talk")
    for _ in range(3):
        out = mixer.mix({})
    assert made == ["a"] and frequencies_in(out["caller-a"]) == {MUSIC_HZ}
    mixer.set_role("caller-b", "hold")
    mixer.mix({})
    assert made == ["a", "b"] and mixer.hold_source("b") is not None


def test_hold_without_any_source_is_silence() -> None:
    mixer = call(("caller", "hold"), ("agent", "talk"))
    assert not mixer.mix({"agent": tone(700), "caller": tone(400)})["caller"].any()


def test_a_bad_hold_source_is_refused() -> None:
    mixer = call(("caller", "hold"), ("agent", "talk"))
    with pytest.raises(ConferenceError, match="next_frame"):
        mixer.set_hold_source("call", object())  # type: ignore[arg-type]

    class Short:
        def next_frame(self) -> np.ndarray:
            return np.zeros(80, dtype=np.int16)

    mixer.set_hold_source("call", Short())
    with pytest.raises(ConferenceError, match="shape"):
        mixer.mix({})


# -- a whole box --------------------------------------------------------------------------------
def test_sixty_rooms_of_three_in_one_tick() -> None:
    rng = np.random.default_rng(5)
    mixer = Mixer()
    legs = [(("trunk", "span1", room), ("phone", f"port{room}"), ("third", room)) for room in range(60)]
    for room, members in enumerate(legs):
        for leg in members:
            mixer.join(f"call-{room}", leg, "talk")
    frames = {leg: rng.integers(-12000, 12000, FRAME_SAMPLES, dtype=np.int16)
              for members in legs for leg in members}
    out = mixer.mix(frames)
    assert len(out) == 180 and len(mixer.rooms()) == 60
    for members in legs:
        for leg in members:
            expected = sum(frames[o].astype(np.int32) for o in members if o != leg)
            assert np.array_equal(out[leg], np.clip(expected, -32768, 32767).astype(np.int16))


def test_the_matrix_agrees_with_the_rule_for_random_rooms() -> None:
    """The tick (one matrix) against hears() (the table's rule, leg by leg)."""
    rng = np.random.default_rng(6)
    roles = [r.value for r in Role]
    for trial in range(40):
        mixer = Mixer()
        # Small boxes, and big ones whose rooms fill several blocks (or outgrow one).
        legs = [f"leg{i}" for i in range(int(rng.integers(2, 12 if trial % 2 else 90)))]
        rooms = int(rng.integers(1, 4 if trial % 2 else 9))
        for leg in legs:
            mixer.join(f"room{int(rng.integers(0, rooms))}", leg, "talk")
        for leg in legs:
            role = roles[int(rng.integers(0, len(roles)))]
            others = [o for o in legs if o != leg]
            targets = list(rng.choice(others, size=int(rng.integers(1, len(others) + 1)), replace=False))
            mixer.set_role(leg, role, whisper_to=targets if role == "whisper" else ())
        frames = {leg: rng.integers(-1000, 1000, FRAME_SAMPLES, dtype=np.int16) for leg in legs}
        out = mixer.mix(frames)
        for leg in legs:
            expected = sum((frames[o].astype(np.int32) for o in mixer.hears(leg)),
                           np.zeros(FRAME_SAMPLES, np.int32))
            assert np.array_equal(out[leg], expected), (leg, mixer.legs(mixer.room_of(leg)))
            if mixer.role_of(leg) is Role.HOLD:
                assert mixer.hears(leg) == frozenset()


# -- membership and views -------------------------------------------------------------------------
def test_views_follow_joins_and_leaves() -> None:
    mixer = Mixer()
    assert mixer.rooms() == () and mixer.mix({}) == {}
    mixer.join("r1", "a")
    mixer.join("r1", "b", "listen")
    mixer.join("r2", "c", Role.HOLD)
    mixer.set_hold_source("r2", LoopingPlayer(tone(MUSIC_HZ)))
    assert mixer.rooms() == ("r1", "r2")
    assert mixer.legs("r1") == {"a": Role.TALK, "b": Role.LISTEN}
    assert mixer.room_of("c") == "r2" and mixer.role_of("c") == "hold" and mixer.room_of("x") is None
    assert mixer.hears("b") == {"a"} and mixer.hears("a") == frozenset() and mixer.hears("x") == frozenset()
    mixer.legs("r1").clear()  # a copy
    assert len(mixer.legs("r1")) == 2
    assert mixer.leave("c") == "r2"
    assert mixer.rooms() == ("r1",) and mixer.legs("r2") == {} and mixer.hold_source("r2") is None
    mixer.join("r2", "c")  # an emptied room's id can be used again
    assert mixer.hold_source("r2") is None


def test_a_leg_moves_by_leaving_first() -> None:
    mixer = Mixer()
    mixer.join("r1", "a")
    with pytest.raises(ConferenceError, match="already in room 'r1'"):
        mixer.join("r2", "a")
    mixer.leave("a")
    mixer.join("r2", "a")
    assert mixer.room_of("a") == "r2"


def test_misuse_is_refused_with_a_reason() -> None:
    mixer = Mixer()
    mixer.join("r", "a")
    with pytest.raises(ConferenceError, match="no role 'shout'"):
        mixer.join("r", "b", "shout")
    with pytest.raises(ConferenceError, match="whisper needs"):
        mixer.join("r", "b", "whisper")
    with pytest.raises(ConferenceError, match="only for the whisper role"):
        mixer.join("r", "b", "talk", whisper_to=["a"])
    with pytest.raises(ConferenceError, match="itself"):
        mixer.set_role("a", "whisper", whisper_to=["a"])
    assert mixer.room_of("b") is None and mixer.role_of("a") is Role.TALK  # nothing half-done
    with pytest.raises(ConferenceError, match="in no room"):
        mixer.leave("b")
    with pytest.raises(ConferenceError, match="in no room"):
        mixer.set_role("b", "talk")
    with pytest.raises(MediaError, match="int16"):
        mixer.mix({"a": np.zeros(FRAME_SAMPLES, dtype=np.float32)})
    with pytest.raises(ConferenceError, match="shape"):
        mixer.mix({"a": np.zeros(80, dtype=np.int16)})


def test_rooms_are_never_split_across_blocks() -> None:
    """Rooms that do not fit the rest of a block, and one bigger than a block, still sum right."""
    rng = np.random.default_rng(8)
    mixer = Mixer()
    sizes = [BLOCK_LEGS - 1, 2, BLOCK_LEGS + 6, 3, 1, BLOCK_LEGS]
    members = {f"r{n}": [(n, i) for i in range(size)] for n, size in enumerate(sizes)}
    for room, legs in members.items():
        for leg in legs:
            mixer.join(room, leg)
    frames = {leg: rng.integers(-500, 500, FRAME_SAMPLES, dtype=np.int16)
              for legs in members.values() for leg in legs}
    out = mixer.mix(frames)
    for legs in members.values():
        total = sum(frames[leg].astype(np.int32) for leg in legs)
        for leg in legs:
            assert np.array_equal(out[leg], total - frames[leg])


def test_a_room_holds_at_most_max_room_legs() -> None:
    mixer = Mixer()
    for leg in range(MAX_ROOM_LEGS):
        mixer.join("big", leg)
    with pytest.raises(ConferenceError, match="full"):
        mixer.join("big", "one-more")
    loud = np.full(FRAME_SAMPLES, 32767, dtype=np.int16)
    out = mixer.mix(dict.fromkeys(range(MAX_ROOM_LEGS), loud))
    assert np.all(out[0] == 32767)


# -- the looping player ----------------------------------------------------------------------------
def test_looping_player_wraps_round_its_loop() -> None:
    player = LoopingPlayer(np.arange(100, dtype=np.int16))  # shorter than a frame
    first, second = player.next_frame(), player.next_frame()
    assert first.tolist() == list(range(100)) + list(range(60))
    assert second.tolist() == list(range(60, 100)) + list(range(100)) + list(range(20))
    assert player.position == 20 and player.loop_samples == 100
    player.restart()
    assert player.next_frame()[0] == 0


def test_looping_player_copies_and_checks_its_samples() -> None:
    samples = np.arange(FRAME_SAMPLES, dtype=np.int32)
    player = LoopingPlayer(samples)
    samples[:] = 0
    assert player.next_frame().dtype == np.int16 and player.next_frame()[5] == 5
    with pytest.raises(ConferenceError, match="1-D"):
        LoopingPlayer(np.zeros(0, dtype=np.int16))
    with pytest.raises(ConferenceError, match="integers"):
        LoopingPlayer(np.zeros(10))
    with pytest.raises(ConferenceError, match="16-bit"):
        LoopingPlayer(np.array([40000]))
