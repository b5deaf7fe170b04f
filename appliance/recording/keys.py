"""The box's recording keys: a key file issued at provisioning, never beside the recordings.

File format (TOML, mode 0600, owned by the box's user or root)::

    # Anxin recording keys of box xa-yanta-01, issued 2025-03-01 by provisioning.
    [keys]
    1 = "64 hex digits"        # 256-bit AES key
    2 = "64 hex digits"        # after a rotation: the newest (highest id) seals new files

Rotation adds a key with a higher id; the old ones stay so that old recordings remain
readable until retention has deleted the last file that names them.

A box key never seals audio itself. Two keys are derived from it with HKDF-SHA256
(RFC 5869), one per purpose (key separation): the *wrap key* seals each file's random
data key (the envelope, container.py), and the *key check value* (8 bytes in every
header) tells a reader holding the wrong key file so at once, instead of reporting
tampering. Both are PRF outputs: they reveal nothing about the box key.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from appliance.recording.container import RecordingError, WrongKey

KEY_BYTES = 32
MAX_KEY_ID = 0xFFFF_FFFF  # the header's key id field is 32 bits
_WRAP_INFO = b"anxin recording v1 wrap key"
_CHECK_INFO = b"anxin recording v1 key check"


class KeyFileError(RecordingError):
    """The key file is missing, unsafe or malformed: says which file and what to do."""


def _derive(secret: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(secret)


@dataclass(frozen=True)
class RecordingKey:
    """One box key and what is derived from it. The secret never appears in a repr."""

    key_id: int
    secret: bytes = field(repr=False)
    wrap_key: bytes = field(init=False, repr=False, compare=False)
    check_value: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 1 <= self.key_id <= MAX_KEY_ID:
            raise ValueError(f"key id must be 1..{MAX_KEY_ID}, got {self.key_id}")
        if len(self.secret) != KEY_BYTES:
            raise ValueError(f"a recording key is {KEY_BYTES} bytes, got {len(self.secret)}")
        object.__setattr__(self, "wrap_key", _derive(self.secret, _WRAP_INFO, 32))
        object.__setattr__(self, "check_value", _derive(self.secret, _CHECK_INFO, 8))


def generate_key(key_id: int) -> RecordingKey:
    """A fresh random key (os.urandom) with KEY_ID."""
    return RecordingKey(key_id, os.urandom(KEY_BYTES))


class Keyring:
    """All keys of the box by id: the newest seals, every one of them opens."""

    def __init__(self, keys: Iterable[RecordingKey]) -> None:
        self._keys: dict[int, RecordingKey] = {}
        for key in keys:
            if key.key_id in self._keys:
                raise ValueError(f"duplicate key id {key.key_id}")
            self._keys[key.key_id] = key
        if not self._keys:
            raise ValueError("a keyring needs at least one key")

    @property
    def current(self) -> RecordingKey:
        """The key new recordings are sealed with: the highest id."""
        return self._keys[max(self._keys)]

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(sorted(self._keys))

    def find(self, key_id: int) -> RecordingKey | None:
        return self._keys.get(key_id)

    def get(self, key_id: int) -> RecordingKey:
        key = self._keys.get(key_id)
        if key is None:
            raise WrongKey("<keyring>", key_id, f"not in the keyring (has {self.describe_ids()})")
        return key

    def describe_ids(self) -> str:
        return "key ids " + ", ".join(str(i) for i in self.ids)

    def as_mapping(self) -> Mapping[int, RecordingKey]:
        return dict(self._keys)

    def __repr__(self) -> str:
        return f"Keyring({self.describe_ids()})"


def load_keyring(path: Path | str, *, recordings_dir: Path | str | None = None) -> Keyring:
    """Read and check the key file. Refuses a file others could read or one kept with the data."""
    path = Path(path)
    if recordings_dir is not None:
        data_dir = Path(recordings_dir).resolve()
        where = path.resolve()
        if where.is_relative_to(data_dir):
            raise KeyFileError(f"录音密钥文件不能与录音放在一起 (recording keys file {path} is inside the "
                               f"recordings directory {data_dir}: a copy of the disk would carry both)")
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise KeyFileError(f"录音密钥文件无法打开 (recording keys file {path}: {exc.strerror})") from exc
    try:
        info = os.fstat(fd)  # the same open file we read: no window to swap it after the check
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"recording keys file {path}: not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise KeyFileError(f"录音密钥文件权限过宽 (recording keys file {path} has mode {mode:04o}; "
                               f"it must be readable by its owner only: chmod 600 {path})")
        if info.st_uid not in (os.geteuid(), 0):
            raise KeyFileError(f"recording keys file {path} belongs to uid {info.st_uid}, neither this "
                               f"user ({os.geteuid()}) nor root: that user could change it")
        with os.fdopen(fd, "rb", closefd=False) as f:
            raw = f.read()
    finally:
        os.close(fd)
    return parse_keyring(raw, str(path))


def parse_keyring(raw: bytes, source: str = "<keys>") -> Keyring:
    """A keyring from the TOML text of a key file; errors name the file and the key."""
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise KeyFileError(f"recording keys file {source}: not valid UTF-8 TOML: {exc}") from exc
    unknown = sorted(set(data) - {"keys"})
    if unknown:
        raise KeyFileError(f"recording keys file {source}: unknown key {unknown[0]!r} (expected [keys])")
    table = data.get("keys")
    if not isinstance(table, dict) or not table:
        raise KeyFileError(f"recording keys file {source}: expected a non-empty [keys] table of "
                           "id = \"64 hex digits\"")
    keys = []
    for name, value in table.items():
        where = f"recording keys file {source}: keys.{name}"
        if not name.isdigit() or not 1 <= int(name) <= MAX_KEY_ID:
            raise KeyFileError(f"{where}: a key id is a number 1..{MAX_KEY_ID}")
        if not isinstance(value, str):
            raise KeyFileError(f"{where}: expected a string of {KEY_BYTES * 2} hex digits")
        try:
            secret = bytes.fromhex(value)
        except ValueError:
            raise KeyFileError(f"{where}: not hex digits") from None
        if len(secret) != KEY_BYTES:
            raise KeyFileError(f"{where}: {len(secret)} bytes, a recording key is {KEY_BYTES} "
                               f"({KEY_BYTES * 2} hex digits)")
        keys.append(RecordingKey(int(name), secret))
    try:
        return Keyring(keys)
    except ValueError as exc:  # "1" and "01" are the same id
        raise KeyFileError(f"recording keys file {source}: {exc}") from exc


def write_keyring(path: Path | str, keyring: Keyring, *, comment: str = "") -> None:
    """Write a key file atomically with mode 0600 (provisioning, rotation, tests)."""
    path = Path(path)
    lines = [f"# {line}" for line in comment.splitlines()]
    lines += ["[keys]", *(f'{k.key_id} = "{k.secret.hex()}"' for k in keyring.as_mapping().values())]
    text = ("\n".join(lines) + "\n").encode("utf-8")
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # an older tmp file may have kept a looser mode
            os.write(fd, text)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        raise KeyFileError(f"writing recording keys file {path}: {exc.strerror}") from exc


def rotate(path: Path | str) -> RecordingKey:
    """Add a new newest key to the key file at PATH (created if missing); returns it."""
    path = Path(path)
    existing = list(load_keyring(path).as_mapping().values()) if path.exists() else []
    key = generate_key(max((k.key_id for k in existing), default=0) + 1)
    write_keyring(path, Keyring([*existing, key]))
    return key
