"""DC-09 encryption: AES-128/192/256 in CBC mode, all-zero IV, pad at the front.

The encrypted span is everything after the '[' that opens the data: the plaintext is
``pad | data ] [x...] _timestamp`` where pad is 1-16 filler characters (never '|', '['
or ']') chosen so that the whole is a multiple of 16 bytes, and '|' separates pad from
data. It travels as upper-case hex. The receiver finds the data after the first '|'.

Keys are per account: a hex string (32/48/64 digits -> AES-128/192/256, the DC-09
form) or raw bytes (16/24/32), for panels (and pysiaalarm) that take a 16/24/32
character key and use its ASCII bytes.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from typing import Final

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from drivers.alarm_phone.dc09.framing import LocalProtocolError, RemoteProtocolError

__all__ = ["PadSource", "decrypt_hex", "encrypt_hex", "parse_key", "random_pad", "split_pad"]

IV: Final = bytes(16)
PAD_ALPHABET: Final = string.ascii_letters + string.digits
PadSource = Callable[[int], str]


def random_pad(n: int) -> str:
    """n pseudo-random pad characters (alphanumerics: never '|', '[' or ']')."""
    return "".join(secrets.choice(PAD_ALPHABET) for _ in range(n))


def parse_key(key: str | bytes, account: str = "?") -> bytes:
    """The AES key bytes for a configured key; LocalProtocolError naming the account if bad."""
    if isinstance(key, bytes | bytearray):
        raw = bytes(key)
    elif isinstance(key, str):
        try:
            raw = bytes.fromhex(key)
        except ValueError:
            raise LocalProtocolError(f"key for account {account!r} is not a hex string") from None
    else:
        raise LocalProtocolError(f"key for account {account!r} must be str (hex) or bytes")
    if len(raw) not in (16, 24, 32):
        raise LocalProtocolError(
            f"key for account {account!r} is {len(raw) * 8} bits; AES needs 128, 192 or 256"
        )
    return raw


def _cipher(key: bytes) -> Cipher:
    return Cipher(algorithms.AES(key), modes.CBC(IV))


def encrypt_hex(key: bytes, text: str, pad_source: PadSource = random_pad) -> str:
    """Pad text at the front ('pad|text'), encrypt, and return upper-case hex."""
    n = 16 - (len(text.encode("ascii")) + 1) % 16  # 1..16 pad characters
    pad = pad_source(n)
    if len(pad) != n or any(c in "|[]" for c in pad):
        raise LocalProtocolError(f"pad source returned {pad!r} for {n} characters")
    plain = (pad + "|" + text).encode("ascii")
    enc = _cipher(key).encryptor()
    return (enc.update(plain) + enc.finalize()).hex().upper()


def decrypt_hex(key: bytes, hex_text: str) -> bytes:
    """Decrypt the hex ciphertext; RemoteProtocolError when it is not whole AES blocks of hex."""
    try:
        data = bytes.fromhex(hex_text)
    except ValueError:
        raise RemoteProtocolError("encrypted part is not hex") from None
    if not data or len(data) % 16:
        raise RemoteProtocolError(f"encrypted part is {len(data)} bytes, not whole 16-byte blocks")
    dec = _cipher(key).decryptor()
    return dec.update(data) + dec.finalize()


def split_pad(plain: bytes) -> bytes:
    """The data after the pad: what follows the first '|'.

    A sender that omits the separator (pysiaalarm's responses pad with '0' and no '|')
    leaves the pad in front of the data; then everything is returned and the caller
    finds the timestamp at the end.
    """
    i = plain.find(b"|")
    return plain[i + 1 :] if i >= 0 else plain
