"""AF_UNIX SOCK_SEQPACKET plumbing shared by the span and FXS simulators.

A :class:`Slot` is one socket path and its one current connection: the client side
connects, the server side listens and accepts one peer at a time (a second live peer is
refused; a dead one is replaced). Every socket is non-blocking and registered in the
owner's epoll set, so the owner can hand asyncio one fd that survives reconnects.
``recv``/``send`` turn a vanished peer into :class:`PeerClosed` (after closing the
socket) and a full buffer into a dropped datagram.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import stat
from pathlib import Path
from typing import Final

__all__ = ["PeerClosed", "Slot", "check_socket_path", "peer_gone"]

log = logging.getLogger("anxin.pri.sim")

_SUN_PATH_MAX: Final = 107  # sockaddr_un.sun_path holds 108 bytes with the NUL


class PeerClosed(Exception):
    """The other end of a connection went away (the message says how)."""


def check_socket_path(path: Path) -> str:
    """PATH as a string; ValueError if it cannot fit in sockaddr_un (checked before any I/O)."""
    text = os.fspath(path)
    if len(os.fsencode(text)) > _SUN_PATH_MAX:
        raise ValueError(f"socket path {text!r} is longer than {_SUN_PATH_MAX} bytes")
    return text


def peer_gone(sock: socket.socket) -> bool:
    """True once the peer has closed (POLLHUP/POLLRDHUP), even with data still queued.

    A zero-length read is either EOF or an empty datagram; only poll tells them apart.
    """
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLRDHUP)
    return any(ev & (select.POLLHUP | select.POLLRDHUP | select.POLLERR) for _, ev in poller.poll(0))


class Slot:
    """One socket path and its current connection, watched by the owner's epoll set.

    Client side: connect(); server side: listen() then accept(), one peer at a time.
    recv()/send() raise PeerClosed after closing the connection.
    """

    def __init__(self, path: Path, label: str, watch: select.epoll) -> None:
        self.path = check_socket_path(path)
        self.label = label
        self._watch = watch
        self.sock: socket.socket | None = None
        self._listener: socket.socket | None = None
        self._inode: int | None = None

    @property
    def connected(self) -> bool:
        return self.sock is not None

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sock.setblocking(False)  # a full backlog fails at once (EAGAIN) instead of hanging
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        self._adopt(sock)

    def listen(self) -> None:
        try:
            mode = os.lstat(self.path).st_mode
        except FileNotFoundError:
            pass
        else:
            if not stat.S_ISSOCK(mode):
                raise FileExistsError(f"{self.path} exists and is not a socket")
            os.unlink(self.path)  # a dead simulator's leftover
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            sock.bind(self.path)
            sock.listen(4)
            sock.setblocking(False)
            self._inode = os.stat(self.path).st_ino
        except OSError:
            sock.close()
            raise
        self._listener = sock
        self._watch.register(sock, select.EPOLLIN)

    def accept(self) -> bool:
        """Take pending connections; True if one became the peer. A second live peer is refused."""
        adopted = False
        while self._listener is not None:
            try:
                conn, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                log.warning("accepting on %s: %s", self.path, exc.strerror or exc)
                break
            conn.setblocking(False)
            if self.sock is not None and not peer_gone(self.sock):
                log.warning("%s: refused a second connection (one peer at a time)", self.path)
                conn.close()
                continue
            self.drop()
            self._adopt(conn)
            adopted = True
        return adopted

    def _adopt(self, sock: socket.socket) -> None:
        self.sock = sock
        self._watch.register(sock, select.EPOLLIN)

    def recv(self, bufsize: int) -> bytes | None:
        """One datagram, None if none is pending; b"" for one that was dropped (logged)."""
        if self.sock is None:
            return None
        try:
            data, _anc, flags, _addr = self.sock.recvmsg(bufsize)
        except (BlockingIOError, InterruptedError):
            return None
        except ConnectionResetError as exc:  # closed before it was ever accepted
            self.drop()
            raise PeerClosed("reset by the peer") from exc
        except OSError as exc:
            self.drop()
            raise PeerClosed(f"failed: {exc.strerror or exc}") from exc
        if not data:
            if peer_gone(self.sock):
                self.drop()
                raise PeerClosed("closed by the peer")
            log.warning("%s: empty datagram dropped", self.path)
        elif flags & socket.MSG_TRUNC:
            log.warning("%s: datagram over %d bytes dropped", self.path, bufsize)
            return b""
        return data

    def send(self, data: bytes) -> bool:
        """False if the peer's buffer is full (the datagram is dropped) or nobody is there."""
        if self.sock is None:
            return False
        try:
            self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            self.drop()
            raise PeerClosed(f"failed: {exc.strerror or exc}") from exc
        return True

    def drop(self) -> None:
        if self.sock is not None:
            self._unwatch(self.sock)
            self.sock.close()
            self.sock = None

    def close(self) -> None:
        self.drop()
        if self._listener is not None:
            self._unwatch(self._listener)
            self._listener.close()
            self._listener = None
            try:  # only our own socket file: a newer simulator may have replaced it
                if os.stat(self.path).st_ino == self._inode:
                    os.unlink(self.path)
            except OSError:
                pass

    def _unwatch(self, sock: socket.socket) -> None:
        try:
            self._watch.unregister(sock)
        except (OSError, ValueError):
            pass
