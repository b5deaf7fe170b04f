"""`anxin-hub`: init-db, serve, ingest, create-user, create-token (CONTRACTS §1)."""

from __future__ import annotations

import argparse
import getpass
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from sqlalchemy.engine import Engine

from hub.settings import from_env, parse_mqtt_url

log = logging.getLogger("hub")

DEFAULT_LISTEN = "127.0.0.1:8000"
SERVE_THREADS = 8


class CliError(Exception):
    """A user-facing failure: printed to stderr, exit status 1."""


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except CliError as exc:
        print(f"anxin-hub {args.command}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a message, not a traceback, for operators
        log.debug("failure", exc_info=True)
        print(f"anxin-hub {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    from hub.auth.credentials import ROLES

    parser = argparse.ArgumentParser(
        prog="anxin-hub", description="Anxin district hub (区级平台). Database from "
        "ANXIN_HUB_DATABASE_URL or ANXIN_HUB_DATA_DIR; broker from ANXIN_HUB_MQTT_URL.")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("init-db", help="create the tables (idempotent)").set_defaults(
        func=cmd_init_db)

    serve = sub.add_parser("serve", help="run the web app and API (waitress)")
    serve.add_argument("--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT")
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("ingest", help="run the MQTT ingest worker").set_defaults(func=cmd_ingest)

    user = sub.add_parser("create-user", help="add a web user")
    user.add_argument("username")
    user.add_argument("--password", help="else prompted, or read from stdin's first line")
    user.add_argument("--role", default="district_staff", choices=ROLES)
    user.add_argument("--display-name")
    user.set_defaults(func=cmd_create_user)

    token = sub.add_parser("create-token", help="issue an API bearer token (printed last)")
    token.add_argument("--role", required=True, choices=ROLES)
    token.add_argument("--name")
    token.set_defaults(func=cmd_create_token)
    return parser


def _engine(*, immediate: bool = False) -> Engine:
    from hub.db import init_db, make_engine

    engine = make_engine(from_env().database_url, immediate=immediate)
    init_db(engine)  # every command works on a fresh data dir
    return engine


def cmd_init_db(_args: argparse.Namespace) -> int:
    from hub.db import init_db, make_engine

    url = from_env().database_url
    version = init_db(make_engine(url))
    print(f"database ready (schema version {version}): {_redact(url)}")
    return 0


def cmd_create_user(args: argparse.Namespace) -> int:
    from hub.auth.credentials import CredentialError, create_user

    password = args.password if args.password is not None else _read_password()
    try:
        with _engine().begin() as conn:
            create_user(conn, args.username, password, args.role, args.display_name)
    except CredentialError as exc:
        raise CliError(str(exc)) from None
    print(f"user {args.username} created (role {args.role})")
    return 0


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("密码 / password: ")
        if getpass.getpass("再次输入 / again: ") != first:
            raise CliError("passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_create_token(args: argparse.Namespace) -> int:
    from hub.auth.credentials import create_token

    with _engine().begin() as conn:
        token = create_token(conn, args.role, args.name)
    print(f"token for role {args.role} (shown once; only its hash is stored):")
    print(token)  # last line, for scripts: `anxin-hub create-token … | tail -n1`
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from waitress import create_server

    from hub import create_app

    host, port = _parse_listen(args.listen)
    app = create_app()  # creates missing tables, like the other commands
    server = create_server(app, host=host, port=port, threads=SERVE_THREADS)
    shown = f"[{host}]" if ":" in host else host
    print(f"anxin-hub serving on http://{shown}:{server.effective_port}/ "
          f"(database {_redact(app.config['DATABASE_URL'])})", flush=True)

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(0)  # waitress's run() catches it and shuts its threads down

    signal.signal(signal.SIGTERM, _stop)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    print("anxin-hub serve stopped", flush=True)
    return 0


def _parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise CliError(f"--listen: expected HOST:PORT, got {text!r}")
    return host, int(port)


def cmd_ingest(_args: argparse.Namespace) -> int:
    from hub.ingest.worker import IngestWorker

    settings = from_env()
    try:
        broker = parse_mqtt_url(settings.mqtt_url)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    worker = IngestWorker(_engine(immediate=True), broker)
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("database %s", _redact(settings.database_url))
    worker.run(stop)
    return 0


def _redact(url: str) -> str:
    """The URL without its password, for logs."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    sys.exit(main())
