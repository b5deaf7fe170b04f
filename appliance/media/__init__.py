"""The box's media engine: all audio work of one 20 ms line tick, done on arrays.

Every B-channel carries 8 kHz A-law in 20 ms frames of 160 samples, and the line clocks
the box (drivers/e1_card/stack.py hands pbxd one frame buffer per tick). The modules
here take a whole tick of every active channel at once, shaped ``(channels, 160)``,
and never loop over samples in Python:

- ``g711``  — A-law/µ-law ↔ 16-bit linear by table lookup (no ``audioop``);
- ``tones`` — call-progress tones to the Chinese standard, one ``ToneBank`` per box;
- ``dsp``   — mixing, gain, levels in dBm0, silence detection, comfort noise;
- ``music`` — music on hold (放松音乐) from 8 kHz mono WAV files, looped per channel;
- ``dtmf``  — DTMF detection and generation (ITU-T Q.23/Q.24);
- ``caller_id`` — on-hook caller ID (MDMF over 1200 baud FSK) for analog phones.

All of them are sans-I/O: no clocks, no files opened during a tick (music is loaded
up front), time passed in as ``now`` where a core needs it.
"""

from __future__ import annotations

from typing import Final

SAMPLE_RATE: Final = 8000  # Hz, every B-channel
FRAME_SAMPLES: Final = 160  # one 20 ms tick
FRAME_MS: Final = 20


class MediaError(ValueError):
    """We were handed audio or parameters the media engine cannot use; says which and why."""
