"""The zh-CN web pages for district staff."""

from flask import Blueprint

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/web")

from hub.web import routes  # noqa: E402,F401  (registers the views on bp)
