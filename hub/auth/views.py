"""Login and logout for the web pages (zh-CN)."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from hub.auth.credentials import authenticate
from hub.auth.guard import SESSION_USER_KEY
from hub.db import db

bp = Blueprint("auth", __name__, template_folder="templates")

CSRF_KEY = "csrf_token"


def csrf_token() -> str:
    """A per-session token that forms echo back, so other sites cannot post them."""
    if CSRF_KEY not in session:
        session[CSRF_KEY] = secrets.token_urlsafe(24)
    return session[CSRF_KEY]


def _check_csrf() -> None:
    sent = request.form.get(CSRF_KEY, "")
    if not sent or not secrets.compare_digest(sent, session.get(CSRF_KEY, "")):
        abort(400, "CSRF token missing or wrong")


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect after login would help phishing.
    if target and target.startswith("/") and not target.startswith("//") \
            and not urlsplit(target).netloc:
        return target
    return url_for("web.alarms")


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response | tuple[str, int]:
    error = None
    username = ""
    if request.method == "POST":
        _check_csrf()
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        if not username or not password:
            error = "请输入用户名和密码。"
        else:
            with db.engine.connect() as conn:
                user = authenticate(conn, username, password)
            if user is None:
                error = "用户名或密码错误。"
            else:
                # A fresh session on login: no session fixation.
                session.clear()
                session[SESSION_USER_KEY] = user["id"]
                session.permanent = True
                return redirect(_safe_next(request.args.get("next")))
    status = 401 if error and request.method == "POST" else 200
    return render_template("auth/login.html", error=error, username=username), status


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Response:
    session.clear()
    return redirect(url_for("auth.login"))
