"""A run: one invocation (a chain, an agent turn, a tool batch) inside a session."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from a2a_session_manager._ids import new_id
from a2a_session_manager.models.session_metadata import utc_now

__all__ = ["RunStatus", "SessionRun"]


class RunStatus(str, Enum):
    """Life-cycle state of a run; values are stored strings and never change."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class SessionRun(BaseModel):
    """One run inside a session. Events written during it carry ``task_id == run.id``."""

    # Python's json writes NaN/Infinity and every reader here accepts them; pydantic's
    # default would store null, silently changing the value.
    model_config = ConfigDict(ser_json_inf_nan="constants")

    id: str = Field(default_factory=new_id)
    started_at: datetime = Field(default_factory=utc_now)
    ended_at: datetime | None = None
    status: RunStatus = RunStatus.PENDING
    metadata: dict[str, Any] = Field(default_factory=dict)

    def mark_running(self) -> None:
        """Mark the run as running (``started_at`` becomes now)."""
        self.status = RunStatus.RUNNING
        self.started_at = utc_now()
        self.ended_at = None

    def mark_completed(self) -> None:
        """Mark the run as completed and stamp ``ended_at``."""
        self.status = RunStatus.COMPLETED
        self.ended_at = utc_now()

    def mark_failed(self, reason: str | None = None) -> None:
        """Mark the run as failed and stamp ``ended_at``.

        Args:
            reason: Optional reason, kept in ``metadata["error"]``.
        """
        self.status = RunStatus.FAILED
        self.ended_at = utc_now()
        if reason is not None:
            self.metadata["error"] = reason

    def mark_cancelled(self) -> None:
        """Mark the run as cancelled and stamp ``ended_at``."""
        self.status = RunStatus.CANCELLED
        self.ended_at = utc_now()

    def _repr_html_(self) -> str:
        from a2a_session_manager.models._html import run_html

        return run_html(self)

    @property
    def is_active(self) -> bool:
        """True while the run is pending or running."""
        return self.status in (RunStatus.PENDING, RunStatus.RUNNING)
