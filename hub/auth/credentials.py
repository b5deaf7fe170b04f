"""Users, passwords and API tokens in the database."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import sqlalchemy as sa
from werkzeug.security import check_password_hash, generate_password_hash

from hub.db.schema import api_tokens, users
from hub.timeutil import utc_now

ROLES = ("admin", "district_staff", "centre_supervisor", "auditor")
TOKEN_PREFIX = "anxin_"


class CredentialError(ValueError):
    """A user or token could not be created (bad role, taken name, empty password)."""


def check_role(role: str) -> str:
    if role not in ROLES:
        raise CredentialError(f"role: must be one of {', '.join(ROLES)}, got {role!r}")
    return role


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(conn: sa.Connection, role: str, name: str | None = None) -> str:
    """A new bearer token; only its hash is stored, so it is shown this once."""
    check_role(role)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    conn.execute(api_tokens.insert().values(
        name=name, role=role, token_hash=hash_token(token), created_at=utc_now()))
    return token


def token_role(conn: sa.Connection, token: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(api_tokens.c.id, api_tokens.c.name, api_tokens.c.role).where(
        api_tokens.c.token_hash == hash_token(token),
        api_tokens.c.revoked_at.is_(None),
    )).first()
    return None if row is None else dict(row._mapping)


def create_user(conn: sa.Connection, username: str, password: str, role: str,
                display_name: str | None = None) -> int:
    check_role(role)
    if not username.strip():
        raise CredentialError("username: must not be empty")
    if not password:
        raise CredentialError("password: must not be empty")
    exists = conn.execute(sa.select(users.c.id).where(users.c.username == username)).first()
    if exists:
        raise CredentialError(f"username: {username!r} already exists")
    result = conn.execute(users.insert().values(
        username=username, display_name=display_name, role=role, disabled=False,
        password_hash=generate_password_hash(password), created_at=utc_now()))
    return int(result.inserted_primary_key[0])


def authenticate(conn: sa.Connection, username: str, password: str) -> dict[str, Any] | None:
    """The user row if USERNAME/PASSWORD match an enabled user, else None."""
    row = conn.execute(sa.select(users).where(users.c.username == username)).first()
    if row is None or row.disabled or not check_password_hash(row.password_hash, password):
        return None
    return dict(row._mapping)


def user_by_id(conn: sa.Connection, user_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(users).where(users.c.id == user_id)).first()
    if row is None or row.disabled:
        return None
    return dict(row._mapping)
