"""The one place that decides who may call a view (bearer token or web session)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import g, redirect, request, session, url_for

from hub.auth.credentials import token_role, user_by_id
from hub.db import db
from hub.errors import API_PREFIX, ApiError

F = TypeVar("F", bound=Callable[..., Any])

SESSION_USER_KEY = "user_id"


@dataclass(frozen=True)
class Principal:
    kind: str  # "user" | "token"
    name: str
    role: str
    display_name: str | None = None


def current_principal() -> Principal | None:
    """Who made this request, looked up once per request."""
    if "principal" in g:
        return g.principal
    g.principal = _resolve()
    return g.principal


def _resolve() -> Principal | None:
    header = request.headers.get("Authorization", "")
    with db.engine.connect() as conn:
        if header:
            # A request that presents a token is judged by the token alone, even with a
            # session cookie: a bad token must fail, not silently fall back.
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return None
            row = token_role(conn, token.strip())
            return None if row is None else Principal("token", row["name"] or "", row["role"])
        user_id = session.get(SESSION_USER_KEY)
        if not isinstance(user_id, int):
            return None
        user = user_by_id(conn, user_id)
    if user is None:
        session.pop(SESSION_USER_KEY, None)
        return None
    return Principal("user", user["username"], user["role"], user["display_name"])


def requires(*roles: str) -> Callable[[F], F]:
    """Allow the view to authenticated principals with one of ROLES (any role if none).

    API paths answer 401/403 in JSON; web pages redirect to the login form.
    """

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = current_principal()
            is_api = request.path.startswith(API_PREFIX)
            if principal is None:
                if is_api:
                    raise ApiError(401, "unauthorized",
                                   "missing or invalid credentials: send "
                                   "'Authorization: Bearer <token>' or log in")
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if roles and principal.role not in roles:
                if is_api:
                    raise ApiError(403, "forbidden", f"role {principal.role!r} may not do this")
                return "无权访问 (forbidden)", 403
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
