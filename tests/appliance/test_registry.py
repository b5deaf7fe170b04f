from pathlib import Path

import pytest

from appliance.registry import RegistryError, import_csv, lookup
from appliance.store import open_store

HEADER = ("account,receiver,line,elder_id,name,phone,address,emergency_contact,emergency_phone,"
          "notes\n")


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "roster.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def test_import_and_lookup_prefers_the_receiver_specific_device(tmp_path: Path) -> None:
    conn = open_store(tmp_path)
    n = import_csv(conn, write(tmp_path,
                               "1001,,,E001,王秀英,13912345678,渭城区文林路12号,李强,029-88886666,\n"
                               "1001,ip,,E002,张建国,029-33334444,,,,\n"
                               "1001,ip,2,E004,赵淑芬,,,,,\n"
                               "b2c3,,,E003,刘桂兰,,,,,\n"))
    assert n == 4
    assert lookup(conn, "main", "1001").name == "王秀英"
    assert lookup(conn, "ip", "1001").name == "张建国"
    assert lookup(conn, "ip", "1001", line="1").name == "张建国"
    assert lookup(conn, "ip", "1001", line="2").name == "赵淑芬"  # same account, other line
    assert lookup(conn, "main", "B2C3").elder_id == "E003"  # hex accounts, any case
    assert lookup(conn, "main", "9999") is None
    # Re-import updates in place.
    import_csv(conn, write(tmp_path, "1001,,,E001,王秀英,13800000000,新地址,,,\n"))
    elder = lookup(conn, "main", "1001")
    assert (elder.phone, elder.address) == ("13800000000", "新地址")


@pytest.mark.parametrize(("row", "line", "field", "words"), [
    ("1001,,,E001,王秀英,12345,,,,", 2, "phone", "11-digit mobile"),
    ("10G1,,,E001,王秀英,,,,,", 2, "account", "hex digits"),
    ("1001,,,E001,,,,,,", 2, "name", "must not be empty"),
    ("1001,,,E001,王秀英,,,,,\n1002,,,E002,张三,,,,0291234,", 3, "emergency_phone", "landline"),
])
def test_bad_row_names_line_and_field_and_imports_nothing(tmp_path: Path, row: str, line: int,
                                                           field: str, words: str) -> None:
    conn = open_store(tmp_path)
    with pytest.raises(RegistryError) as err:
        import_csv(conn, write(tmp_path, row + "\n"))
    assert (err.value.line, err.value.field) == (line, field)
    assert words in str(err.value) and str(err.value).startswith(f"{tmp_path}/roster.csv:{line}:")
    assert conn.execute("SELECT COUNT(*) FROM elders").fetchone()[0] == 0  # all or nothing


def test_unknown_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("account,elder_id,name,idcard\n1001,E1,王,x\n", encoding="utf-8")
    with pytest.raises(RegistryError, match="unknown column"):
        import_csv(open_store(tmp_path), path)
