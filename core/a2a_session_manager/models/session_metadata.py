"""Session metadata: timestamps and free-form properties."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SessionMetadata", "utc_now"]


def utc_now() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


class SessionMetadata(BaseModel):
    """Creation and update times plus user properties of a session."""

    # Python's json writes NaN/Infinity and every reader here accepts them; pydantic's
    # default would store null, silently changing the value.
    model_config = ConfigDict(ser_json_inf_nan="constants")

    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    properties: dict[str, Any] = Field(default_factory=dict)

    def set_property(self, key: str, value: Any) -> None:
        """Set a property and bump ``updated_at``.

        Args:
            key: Property name.
            value: Any JSON value.
        """
        self.properties[key] = value
        self.touch()

    def get_property(self, key: str, default: Any = None) -> Any:
        """Return a property, or ``default`` when unset.

        Args:
            key: Property name.
            default: Value returned when the property is missing.

        Returns:
            The property value.
        """
        return self.properties.get(key, default)

    def touch(self) -> None:
        """Set ``updated_at`` to now."""
        self.updated_at = utc_now()
