from __future__ import annotations

from pathlib import Path

import pytest

from appliance.callers import recognise
from appliance.store import connect, open_store
from appliance.store import migrations as migrations_module
from appliance.store.migrations import MIGRATIONS, current_version, migrate


def test_a_v4_box_db_upgrades_to_v5_keeping_its_residents(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    conn = connect(tmp_path / "box.db")
    with monkeypatch.context() as m:
        m.setattr(migrations_module, "MIGRATIONS", [mig for mig in MIGRATIONS if mig[0] <= 4])
        assert migrate(conn) == [1, 2, 3, 4]
    conn.execute("INSERT INTO elders (elder_id, name, phone, emergency_phone, updated_at) "
                 "VALUES ('E1', '王秀英', '029-88881234', '13900139000', '2026-11-01T00:00:00+08:00')")
    assert migrate(conn) == [v for v, *_ in MIGRATIONS if v >= 5]
    assert current_version(conn) == MIGRATIONS[-1][0]
    row = conn.execute("SELECT name, phone, category FROM elders WHERE elder_id = 'E1'").fetchone()
    assert tuple(row) == ("王秀英", "029-88881234", None)  # NULL category = an ordinary elder
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"elders_phone", "elders_emergency_phone", "elders_phone_digits", "elders_emergency_phone_digits",
            "case_events_created_elder", "case_events_created_caller", "calls_caller"} <= indexes
    columns = [r[1] for r in conn.execute("PRAGMA table_info(blacklist)")]
    assert columns == ["number", "action", "reason", "added_by", "added_at", "expires_at", "source"]
    profile = recognise(conn, "02988881234", 0.0)
    assert (profile.category, profile.elder_id, profile.errors) == ("elder", "E1", ())


def test_a_fresh_box_db_is_at_the_newest_version(tmp_path: Path) -> None:
    conn = open_store(tmp_path)
    assert current_version(conn) == MIGRATIONS[-1][0] >= 5
    assert conn.execute("SELECT COUNT(*) FROM blacklist").fetchone()[0] == 0
