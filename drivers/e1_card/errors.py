"""Errors of the PRI stack: whose fault it is (h11's split) and backend failures."""

from __future__ import annotations


class PriError(Exception):
    """Base of every error the E1 drivers raise."""


class LocalProtocolError(PriError):
    """We misused the API: a request the protocol state does not allow."""


class RemoteProtocolError(PriError):
    """The peer broke the protocol.

    ``cause`` is the Q.931 cause to answer with (None: the message is silently ignored,
    as Q.931 5.8 prescribes for a bad protocol discriminator or a short message);
    ``diagnostic`` goes into the cause IE (e.g. the offending IE identifier).
    """

    def __init__(self, message: str, *, cause: int | None = None, diagnostic: bytes = b"") -> None:
        super().__init__(message)
        self.cause = cause
        self.diagnostic = diagnostic


class SpanError(PriError):
    """A span or FXS backend failed; the message says which device and what happened."""
