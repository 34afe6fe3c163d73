"""``Twin`` lives in the conformance kit (``a2a_session_manager.testing``); re-exported for the tests here."""

from __future__ import annotations

from a2a_session_manager.testing import Twin

__all__ = ["Twin"]
