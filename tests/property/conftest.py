"""Property tests: thousands of generated examples on in-memory ports, sockets off (too many for tests/unit's
few seconds)."""

from __future__ import annotations

from tests.unit.conftest import _no_emf, _no_network

__all__ = ["_no_emf", "_no_network"]
