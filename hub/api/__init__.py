"""The JSON API blueprint (/api/v1)."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from hub.api import routes  # noqa: E402,F401  (registers the views on bp)
