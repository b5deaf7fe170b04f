"""Vectorised G.711 against the scalar driver tables (A-law) and CPython 3.11's audioop (both laws)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from appliance.media import MediaError, g711
from drivers.e1_card import g711 as scalar

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # noqa: E402 - deprecated, gone in 3.13; the independent C reference on 3.11

ALL_CODES = bytes(range(256))
ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int16)


def test_alaw_decode_matches_the_scalar_driver_for_every_code() -> None:
    ours = g711.alaw_to_linear(np.arange(256, dtype=np.uint8))
    assert ours.dtype == np.int16
    assert ours.tolist() == list(scalar.DECODE)


def test_alaw_encode_matches_the_scalar_driver_over_the_whole_16_bit_range() -> None:
    ours = g711.linear_to_alaw(ALL_SAMPLES)
    assert ours.dtype == np.uint8
    assert ours.tobytes() == scalar.linear_to_alaw(ALL_SAMPLES.tolist())


def test_alaw_matches_audioop_both_ways() -> None:
    assert g711.alaw_to_linear(ALL_CODES).tobytes() == audioop.alaw2lin(ALL_CODES, 2)
    assert g711.linear_to_alaw(ALL_SAMPLES).tobytes() == audioop.lin2alaw(ALL_SAMPLES.tobytes(), 2)


def test_ulaw_decode_matches_audioop_for_every_code() -> None:
    assert g711.ulaw_to_linear(ALL_CODES).tobytes() == audioop.ulaw2lin(ALL_CODES, 2)


def test_ulaw_encode_matches_audioop_over_the_whole_16_bit_range() -> None:
    assert g711.linear_to_ulaw(ALL_SAMPLES).tobytes() == audioop.lin2ulaw(ALL_SAMPLES.tobytes(), 2)


def test_transcoding_tables_equal_decode_then_encode() -> None:
    assert g711.alaw_to_ulaw(ALL_CODES).tobytes() == audioop.lin2ulaw(audioop.alaw2lin(ALL_CODES, 2), 2)
    assert g711.ulaw_to_alaw(ALL_CODES).tobytes() == audioop.lin2alaw(audioop.ulaw2lin(ALL_CODES, 2), 2)


def test_idle_codes_and_extremes() -> None:
    assert g711.linear_to_alaw(np.zeros(3, dtype=np.int16)).tolist() == [g711.ALAW_IDLE] * 3
    assert g711.linear_to_ulaw(np.zeros(3, dtype=np.int16)).tolist() == [g711.ULAW_IDLE] * 3
    assert g711.ALAW_DECODE.max() == 32256 and g711.ALAW_DECODE.min() == -32256
    assert g711.ULAW_DECODE.max() == 32124 and g711.ULAW_DECODE.min() == -32124


def test_every_alaw_code_survives_a_round_trip_and_ulaw_all_but_negative_zero() -> None:
    codes = np.arange(256, dtype=np.uint8)
    assert (g711.linear_to_alaw(g711.alaw_to_linear(codes)) == codes).all()
    back = g711.linear_to_ulaw(g711.ulaw_to_linear(codes))
    # µ-law has two zeros (0xFF, 0x7F); both decode to 0, which encodes as 0xFF.
    assert np.flatnonzero(back != codes).tolist() == [0x7F]
    assert back[0x7F] == 0xFF


def test_a_whole_tick_keeps_its_shape_and_equals_the_flat_result() -> None:
    rng = np.random.default_rng(5)
    tick = rng.integers(-32768, 32768, size=(60, 160), dtype=np.int16)
    codes = g711.linear_to_alaw(tick)
    assert codes.shape == (60, 160)
    assert codes.ravel().tobytes() == g711.linear_to_alaw(tick.ravel()).tobytes()
    assert g711.alaw_to_linear(codes).shape == (60, 160)
    cube = rng.integers(0, 256, size=(2, 30, 160), dtype=np.uint8)
    assert g711.ulaw_to_linear(cube).shape == (2, 30, 160)


def test_non_contiguous_views_encode_like_copies() -> None:
    rng = np.random.default_rng(6)
    block = rng.integers(-32768, 32768, size=(160, 32), dtype=np.int16)  # sample-major layout
    column = block[:, 7]  # one timeslot, strided
    assert not column.flags.c_contiguous
    assert g711.linear_to_alaw(column).tobytes() == g711.linear_to_alaw(column.copy()).tobytes()
    transposed = block.T  # timeslot-major view of the same buffer
    assert g711.linear_to_alaw(transposed).tobytes() == g711.linear_to_alaw(transposed.copy()).tobytes()


def test_bytes_lists_and_wider_integers_are_accepted() -> None:
    assert g711.alaw_to_linear(bytes([0xD5, 0x55])).tolist() == [8, -8]
    assert g711.alaw_to_linear([0xD5, 0x55]).tolist() == [8, -8]
    wide = np.array([0, 1000, 40000, -40000], dtype=np.int64)
    assert g711.linear_to_alaw(wide).tolist() == g711.linear_to_alaw(
        np.array([0, 1000, 32767, -32768], dtype=np.int16)).tolist()


def test_floats_are_rounded_then_clipped() -> None:
    floats = np.array([999.6, -0.4, 1e9, -1e9])
    expected = g711.linear_to_ulaw(np.array([1000, 0, 32767, -32768], dtype=np.int16))
    assert g711.linear_to_ulaw(floats).tolist() == expected.tolist()


def test_decode_into_a_preallocated_buffer() -> None:
    out = np.empty((2, 160), dtype=np.int16)
    codes = np.full((2, 160), 0x80, dtype=np.uint8)
    result = g711.alaw_to_linear(codes, out=out)
    assert result is out
    assert (out == scalar.DECODE[0x80]).all()


@pytest.mark.parametrize("codes", [np.array([0, 256]), np.array([-1]), np.array([1.5])])
def test_impossible_codes_are_refused(codes: np.ndarray) -> None:
    with pytest.raises(MediaError, match="codes"):
        g711.alaw_to_linear(codes)


def test_impossible_samples_are_refused() -> None:
    with pytest.raises(MediaError, match="NaN"):
        g711.linear_to_alaw(np.array([0.0, np.nan]))
    with pytest.raises(MediaError, match="integer or float"):
        g711.linear_to_ulaw(np.array(["loud"]))


def test_tables_are_read_only() -> None:
    with pytest.raises(ValueError):
        g711.ALAW_ENCODE[0] = 0
