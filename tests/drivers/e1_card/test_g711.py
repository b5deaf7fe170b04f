"""G.711 A-law tables against CPython's audioop (an independent C implementation, 3.11)."""

from __future__ import annotations

import warnings

from drivers.e1_card import g711

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # noqa: E402 - deprecated, still the reference on Python 3.11


def test_decode_matches_audioop_for_every_code() -> None:
    codes = bytes(range(256))
    ours = g711.alaw_to_linear(codes).tobytes()
    assert ours == audioop.alaw2lin(codes, 2)


def test_encode_matches_audioop_over_the_whole_range() -> None:
    samples = g711.array("h", range(-32768, 32768, 7))
    assert g711.linear_to_alaw(samples) == audioop.lin2alaw(samples.tobytes(), 2)


def test_idle_code_and_tone_level() -> None:
    assert g711.linear_to_alaw([0]) == bytes([g711.ALAW_IDLE])
    burst = g711.tone((450.0,), 1.0, dbm0=-10.0)
    assert len(burst) == 8000
    assert abs(g711.level_dbm0(burst) - -10.0) < 0.3
    assert g711.dominant_frequency(burst, (350.0, 450.0, 950.0)) == 450.0
    assert g711.level_dbm0(bytes([g711.ALAW_IDLE]) * 160) < -60
