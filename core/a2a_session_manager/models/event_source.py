"""Who produced an event."""

from __future__ import annotations

from enum import Enum

__all__ = ["EventSource"]


class EventSource(str, Enum):
    """The producer of an event; values are stored strings and never change.

    USER renders as role ``user``, LLM as ``assistant``, SYSTEM as ``system`` and TOOL
    (a tool's result, new since 0.1.3) as ``tool``.
    """

    USER = "user"
    LLM = "llm"
    SYSTEM = "system"
    TOOL = "tool"
