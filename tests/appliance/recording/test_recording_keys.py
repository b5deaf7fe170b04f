"""The box's recording key file: permissions, format, rotation, never beside the data."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from appliance.recording.container import WrongKey
from appliance.recording.keys import (
    KeyFileError,
    Keyring,
    RecordingKey,
    generate_key,
    load_keyring,
    parse_keyring,
    rotate,
    write_keyring,
)

HEX_A = "00" * 31 + "0a"
HEX_B = "ff" * 32


def key_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)
    return path


def test_loads_several_keys_and_writes_with_the_newest(tmp_path: Path) -> None:
    path = key_file(tmp_path / "recording-keys.toml", f'[keys]\n1 = "{HEX_A}"\n12 = "{HEX_B}"\n')
    ring = load_keyring(path)
    assert ring.ids == (1, 12)
    assert ring.current.key_id == 12
    assert ring.get(1).secret == bytes.fromhex(HEX_A)
    assert ring.find(5) is None
    with pytest.raises(WrongKey, match="not in the keyring"):
        ring.get(5)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o666])
def test_looser_permissions_are_refused(tmp_path: Path, mode: int) -> None:
    path = key_file(tmp_path / "k.toml", f'[keys]\n1 = "{HEX_A}"\n', mode)
    with pytest.raises(KeyFileError, match=f"mode {mode:04o}.*chmod 600"):
        load_keyring(path)


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_owner_only_permissions_are_accepted(tmp_path: Path, mode: int) -> None:
    path = key_file(tmp_path / "k.toml", f'[keys]\n1 = "{HEX_A}"\n', mode)
    assert load_keyring(path).ids == (1,)


def test_missing_file_and_directory_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="No such file"):
        load_keyring(tmp_path / "nope.toml")
    (tmp_path / "dir").mkdir(mode=0o700)
    with pytest.raises(KeyFileError, match="not a regular file"):
        load_keyring(tmp_path / "dir")


def test_key_file_inside_the_recordings_directory_is_refused(tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    (recordings / "2025").mkdir(parents=True)
    path = key_file(recordings / "2025" / "keys.toml", f'[keys]\n1 = "{HEX_A}"\n')
    with pytest.raises(KeyFileError, match="inside the recordings directory"):
        load_keyring(path, recordings_dir=recordings)
    elsewhere = key_file(tmp_path / "keys.toml", f'[keys]\n1 = "{HEX_A}"\n')
    assert load_keyring(elsewhere, recordings_dir=recordings).ids == (1,)


@pytest.mark.parametrize("text, message", [
    ("not toml = = 1", "not valid UTF-8 TOML"),
    ("[other]\n", "unknown key 'other'"),
    ("[keys]\n", "non-empty \\[keys\\]"),
    (f'[keys]\nx = "{HEX_A}"\n', "keys.x: a key id is a number"),
    (f'[keys]\n0 = "{HEX_A}"\n', "keys.0: a key id is a number"),
    (f'[keys]\n4294967296 = "{HEX_A}"\n', "keys.4294967296: a key id"),
    ("[keys]\n1 = 5\n", "keys.1: expected a string"),
    ('[keys]\n1 = "zz"\n', "keys.1: not hex"),
    ('[keys]\n1 = "0011"\n', "keys.1: 2 bytes, a recording key is 32"),
    (f'[keys]\n1 = "{HEX_A}"\n01 = "{HEX_B}"\n', "duplicate key id 1"),
])
def test_malformed_key_files_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(KeyFileError, match=message):
        parse_keyring(text.encode(), "keys.toml")


def test_write_then_load_round_trip_is_private(tmp_path: Path) -> None:
    ring = Keyring([generate_key(1), generate_key(2)])
    path = tmp_path / "keys.toml"
    (tmp_path / ".keys.toml.tmp").write_text("left over")
    os.chmod(tmp_path / ".keys.toml.tmp", 0o644)
    write_keyring(path, ring, comment="box xa-yanta-01\nissued by provisioning")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith("# box xa-yanta-01\n# issued by provisioning\n[keys]\n")
    loaded = load_keyring(path)
    assert loaded.ids == (1, 2)
    assert all(loaded.get(i).secret == ring.get(i).secret for i in (1, 2))


def test_rotation_adds_a_newer_key_and_keeps_the_old(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    first = rotate(path)
    second = rotate(path)
    ring = load_keyring(path)
    assert (first.key_id, second.key_id) == (1, 2)
    assert ring.current.secret == second.secret
    assert ring.get(1).secret == first.secret != second.secret


def test_derived_values_depend_on_the_secret_and_hide_it() -> None:
    a, b = RecordingKey(1, b"\x01" * 32), RecordingKey(1, b"\x02" * 32)
    assert len(a.check_value) == 8 and len(a.wrap_key) == 32
    assert a.check_value != b.check_value and a.wrap_key != b.wrap_key
    assert a.wrap_key != a.secret  # key separation: the box key itself seals nothing
    assert RecordingKey(1, b"\x01" * 32).check_value == a.check_value  # stable across loads
    assert "01010101" not in repr(a) and "secret" not in repr(a)
    assert "01" * 32 not in repr(Keyring([a]))


def test_key_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        RecordingKey(1, b"short")
    with pytest.raises(ValueError, match="key id"):
        RecordingKey(0, b"\x00" * 32)
    with pytest.raises(ValueError, match="duplicate"):
        Keyring([generate_key(3), generate_key(3)])
    with pytest.raises(ValueError, match="at least one"):
        Keyring([])


def test_a_file_another_user_owns_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = key_file(tmp_path / "k.toml", f'[keys]\n1 = "{HEX_A}"\n')
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)  # nobody: could rewrite the key file behind the box's back
    else:
        monkeypatch.setattr(os, "geteuid", lambda: path.stat().st_uid + 1)
    with pytest.raises(KeyFileError, match="belongs to uid"):
        load_keyring(path)
