"""Shared fixtures: real servers on free ports, each test with its own."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioning.district import District
from provisioning.mosquitto import Broker, free_port, start_broker, wait_for_port


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Broker]:
    """A real Mosquitto with its own config on a free port (broker.url is mqtt://…)."""
    broker = start_broker(tmp_path / "mosquitto")
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def district(tmp_path: Path) -> Iterator[District]:
    """Mosquitto + hub (serve + ingest) as real processes; add boxes with add_box()."""
    d = District(tmp_path / "district")
    try:
        d.start_broker()
        d.start_hub()
        yield d
    except BaseException:
        print(d.logs())  # shown by pytest on failure
        raise
    finally:
        d.stop()


def _postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL server binaries ({name}) not found: install the "
                           "'postgresql' package (./anxin.sh does)")
    return found[-1]


@pytest.fixture(scope="session")
def postgresql() -> Iterator[str]:
    """A private PostgreSQL cluster for the session on a free port: its base URL.

    initdb refuses to run as root, so as root the cluster belongs to user postgres.
    """
    home = Path(tempfile.mkdtemp(prefix="anxin-pg-"))
    data, port = home / "data", free_port()
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    if as_root:
        shutil.chown(home, "postgres", "postgres")
    subprocess.run([*prefix, _postgres_bin("initdb"), "-D", str(data), "-U", "postgres",
                    "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"], check=True,
                   capture_output=True, timeout=120)
    options = (f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off")
    subprocess.run([*prefix, _postgres_bin("pg_ctl"), "-D", str(data), "-o", options, "-l",
                    str(home / "server.log"), "-w", "-t", "60", "start"], check=True,
                   capture_output=True, timeout=90)
    try:
        wait_for_port("127.0.0.1", port)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*prefix, _postgres_bin("pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True, timeout=60)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def postgresql_db(postgresql: str) -> Iterator[str]:
    """A fresh, empty database in the session's cluster: its SQLAlchemy URL."""
    import sqlalchemy as sa

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(f"{postgresql}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{postgresql}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# ---------------------------------------------------------------------------
# libpri as a real ISDN PRI peer (tests/interop/pri_peer.c, driven by
# tests/interop/libpri_peer.py). Test modules use: from libpri_peer import LibpriPeer
# ---------------------------------------------------------------------------

def _load_interop_module(name: str):  # tests/interop is a test dir (no package): load by path, once
    import importlib.util
    import sys

    if name not in sys.modules:
        path = Path(__file__).parent / "interop" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _load_libpri_peer_module():
    return _load_interop_module("libpri_peer")


@pytest.fixture(scope="session")
def libpri_peer_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pri_peer harness compiled once per session (needs gcc and Debian's libpri-dev)."""
    peer_mod = _load_libpri_peer_module()
    try:
        return peer_mod.compile_pri_peer(tmp_path_factory.mktemp("pri_peer"))
    except peer_mod.LibpriPeerError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def libpri_peer(libpri_peer_binary: Path, tmp_path: Path) -> Iterator:
    """Factory: start(role, socket_path, listen=role == "network", **options) -> LibpriPeer.

    Options are LibpriPeer's (switch, auto_answer, auto_reject, pcap, timers, quiet). Every
    harness is killed at teardown; its libpri trace is printed then, which pytest shows
    for failed tests only.
    """
    peer_mod = _load_libpri_peer_module()
    peers: list = []

    def start(role: str, socket_path: Path | str, listen: bool | None = None, **options):
        peer = peer_mod.LibpriPeer(libpri_peer_binary, role=role, socket_path=socket_path,
                                   listen=(role == "network") if listen is None else listen,
                                   log_path=tmp_path / f"pri_peer-{len(peers)}-{role}.log", **options)
        peers.append(peer)
        return peer.start()

    try:
        yield start
    finally:
        for peer in peers:
            peer.stop()
            print(f"==== pri_peer {peer.role} ({peer.log_path}), last events and log tail ====")
            print("\n".join(e.line for e in peer.events[-40:]))
            print(peer.log(tail=150))


# ---------------------------------------------------------------------------
# The libpri interop suite (tests/interop/test_pri_interop_*.py): short socket
# directories, and tshark's check of every D-channel capture a test writes.
# Test modules use: from pri_interop_kit import ...
# ---------------------------------------------------------------------------

def _load_pri_interop_kit():
    _load_libpri_peer_module()  # the interop test modules import both by name
    return _load_interop_module("pri_interop_kit")


@pytest.fixture
def pri_dir() -> Iterator[Path]:
    """A short directory for a span's AF_UNIX sockets (paths must stay under 108 bytes)."""
    path = Path(tempfile.mkdtemp(dir="/tmp", prefix="pri-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def pri_captures(tmp_path: Path) -> Iterator:
    """CaptureRegistry: ``.path(name)`` hands out a pcap path under tmp_path; after the test
    every capture handed out is checked with tshark (pri_interop_kit.check_capture): not
    empty, both directions, no malformed packet, no expert error or warning."""
    registry = _load_pri_interop_kit().CaptureRegistry(tmp_path / "captures")
    yield registry
    registry.check_all()
