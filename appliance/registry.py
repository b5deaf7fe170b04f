"""Residents and their alarm devices on the box: lookup for alarm intake, CSV import.

The hub's registry sync will own this data; a technician's CSV import fills it before
the hub is reachable (or for a centre working alone). Each import row is validated,
and an error names the file, the line and the field.
"""

from __future__ import annotations

import csv
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from appliance.clock import iso, now_local
from appliance.store import transaction

MOBILE = re.compile(r"^1[3-9]\d{9}$")
LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}$")
ACCOUNT = re.compile(r"^[0-9A-Fa-f]{4,10}$")
COLUMNS = ("account", "receiver", "line", "elder_id", "name", "phone", "address", "emergency_contact",
           "emergency_phone", "notes")


class RegistryError(ValueError):
    def __init__(self, source: str, line: int, field: str, message: str) -> None:
        super().__init__(f"{source}:{line}: {field}: {message}")
        self.source, self.line, self.field = source, line, field


@dataclass(frozen=True)
class Elder:
    elder_id: str
    name: str
    phone: str | None
    address: str | None
    emergency_contact: str | None
    emergency_phone: str | None

    def to_body(self) -> dict[str, str | None]:
        return {"elder_id": self.elder_id, "name": self.name, "phone": self.phone,
                "address": self.address, "emergency_contact": self.emergency_contact,
                "emergency_phone": self.emergency_phone}


def lookup(conn: sqlite3.Connection, receiver: str, account: str,
           line: str | None = None) -> Elder | None:
    """The resident whose device reports ACCOUNT: a row for this receiver and line wins,
    then one for this receiver (any line), then one for any receiver."""
    row = conn.execute(
        "SELECT e.elder_id, e.name, e.phone, e.address, e.emergency_contact, e.emergency_phone "
        "FROM alarm_devices d JOIN elders e USING (elder_id) "
        "WHERE d.account = ? AND d.receiver IN (?, '') AND d.line IN (?, '') "
        "ORDER BY d.receiver = '', d.line = '' LIMIT 1",
        (account.upper(), receiver, line or "")).fetchone()
    return Elder(*row) if row else None


def _phone(value: str) -> str | None:
    digits = value.replace(" ", "")
    if MOBILE.match(digits) or LANDLINE.match(digits):
        return None
    return f"{value!r} is neither an 11-digit mobile nor an area-coded landline (e.g. 029-88888888)"


def import_csv(conn: sqlite3.Connection, path: Path) -> int:
    """Upsert residents and devices from a UTF-8 CSV (header row = COLUMNS); all or nothing."""
    source = str(path)
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        missing = {"account", "elder_id", "name"} - set(reader.fieldnames or ())
        if missing:
            raise RegistryError(source, 1, ",".join(sorted(missing)), "missing column")
        unknown = set(reader.fieldnames or ()) - set(COLUMNS)
        if unknown:
            raise RegistryError(source, 1, ",".join(sorted(unknown)),
                                f"unknown column (expected: {', '.join(COLUMNS)})")
        rows = list(reader)
    now = iso(now_local())
    with transaction(conn):
        for i, row in enumerate(rows, start=2):
            values = {k: (row.get(k) or "").strip() for k in COLUMNS}
            if not ACCOUNT.match(values["account"]):
                raise RegistryError(source, i, "account", f"{values['account']!r} is not 4-10 hex digits")
            for key in ("elder_id", "name"):
                if not values[key]:
                    raise RegistryError(source, i, key, "must not be empty")
            for key in ("phone", "emergency_phone"):
                if values[key] and (problem := _phone(values[key])):
                    raise RegistryError(source, i, key, problem)
            conn.execute(
                "INSERT INTO elders (elder_id, name, phone, address, emergency_contact, "
                "emergency_phone, notes, updated_at) VALUES (?,?,?,?,?,?,?,?) "
                "ON CONFLICT (elder_id) DO UPDATE SET name = excluded.name, phone = excluded.phone,"
                " address = excluded.address, emergency_contact = excluded.emergency_contact,"
                " emergency_phone = excluded.emergency_phone, notes = excluded.notes,"
                " updated_at = excluded.updated_at",
                (values["elder_id"], values["name"], values["phone"] or None,
                 values["address"] or None, values["emergency_contact"] or None,
                 values["emergency_phone"] or None, values["notes"] or None, now))
            conn.execute(
                "INSERT INTO alarm_devices (receiver, line, account, elder_id) VALUES (?,?,?,?) "
                "ON CONFLICT (receiver, line, account) DO UPDATE SET elder_id = excluded.elder_id",
                (values["receiver"], values["line"], values["account"].upper(), values["elder_id"]))
    return len(rows)
