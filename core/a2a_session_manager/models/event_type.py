"""What kind of event an event is."""

from __future__ import annotations

from enum import Enum

__all__ = ["EventType"]


class EventType(str, Enum):
    """The kind of an event; values are stored strings and never change."""

    MESSAGE = "message"
    SUMMARY = "summary"
    TOOL_CALL = "tool_call"
    REFERENCE = "reference"
    CONTEXT_BRIDGE = "context_bridge"
