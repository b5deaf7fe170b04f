"""Anxin hub (区级平台): the district web app, JSON API and MQTT ingest.

`create_app` builds the web app; the ingest runs as its own process (`anxin-hub ingest`).
"""

from __future__ import annotations

from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from flask import Flask

try:
    __version__ = version("anxin")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The hub web app. CONFIG overrides the environment (tests pass DATABASE_URL)."""
    # Imported here, not at module level: `anxin-hub ingest` imports the hub package
    # and should not pay for (or depend on) the web side.
    from hub import api, auth, web
    from hub.db import db
    from hub.errors import register_error_handlers
    from hub.settings import from_env, load_secret_key

    # No app-level static folder: assets live with their blueprint (hub/web/static).
    app = Flask(__name__, static_folder=None)
    settings = from_env()
    app.config.update(
        DATABASE_URL=settings.database_url,
        DATA_DIR=str(settings.data_dir),
        VERSION=__version__,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # readable Chinese
    app.config.update(config or {})
    if not app.config.get("SECRET_KEY"):
        from pathlib import Path

        app.config["SECRET_KEY"] = load_secret_key(Path(app.config["DATA_DIR"]))

    db.init_app(app)
    app.jinja_env.globals["csrf_token"] = auth.csrf_token
    app.register_blueprint(api.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(web.bp)
    register_error_handlers(app)
    return app
