"""Unit tests run with the network off: any socket connection is a test failure."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from shared.telemetry import set_emf


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"unit tests must not open sockets: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(autouse=True)
def _no_emf() -> Iterator[None]:
    """Metrics go to listeners only: EMF would pile up in Powertools' process-wide Metrics object and come out
    in the first flush of a later test's handler."""
    set_emf(False)
    yield
    set_emf(True)
