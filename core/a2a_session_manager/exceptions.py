"""Every exception the library raises, in one tree.

::

    SessionManagerError                          base; .session_id (str | None) on every instance
    ├── InvalidSessionIdError(ValueError)        the id could escape the store
    ├── InvalidDataError(ValueError, TypeError)  input a store cannot keep exactly; nothing written
    ├── SessionNotFoundError(LookupError)        an operation needs a session that does not exist
    ├── StorageError                             the backend failed; the driver's error is chained
    │   ├── CorruptSessionError                  stored data unreadable; names the file, key or row
    │   └── StoreUnavailableError                the server cannot be reached; names the address
    ├── MissingDependencyError(ImportError)      an extra is missing; the message has the pip line
    ├── PromptBudgetError(ValueError)            even the essential messages cannot fit the budget
    ├── SummarizationError                       the summarizer failed; nothing was changed
    └── ToolProcessingError                      no valid tool call came after the retries

The names of 0.1.3 keep working: ``SessionNotFound`` is ``SessionNotFoundError``,
``SessionAlreadyExists`` and ``InvalidSessionOperation`` subclass ``SessionManagerError``.
"""

from __future__ import annotations

__all__ = [
    "CorruptSessionError",
    "InvalidDataError",
    "InvalidSessionIdError",
    "InvalidSessionOperation",
    "MissingDependencyError",
    "PromptBudgetError",
    "SessionAlreadyExists",
    "SessionManagerError",
    "SessionNotFound",
    "SessionNotFoundError",
    "StorageError",
    "StoreUnavailableError",
    "SummarizationError",
    "ToolProcessingError",
]


class SessionManagerError(Exception):
    """Base of every error raised by a2a-session-manager.

    Args:
        message: What went wrong, which session and what to do.
        session_id: The session concerned, when there is one.
    """

    def __init__(self, message: str = "", *, session_id: str | None = None) -> None:
        super().__init__(message)
        self.session_id = session_id


class InvalidSessionIdError(SessionManagerError, ValueError):
    """A session id that could escape the store (path, key pattern, control characters)."""


class InvalidDataError(SessionManagerError, ValueError, TypeError):
    """Input a store cannot keep exactly; nothing was written.

    Raised before any write for: an object that is not a ``SessionEvent``, ``Session``
    or ``SessionRun`` where one is needed, a value with no JSON form, text holding a
    lone surrogate (not valid Unicode), or nesting deeper than the encoder allows
    (about 250 levels). It is a ``TypeError`` for the wrong-type cases callers already
    caught as such, and a ``ValueError`` for the bad-value ones; the message names the
    field.
    """


class SessionNotFoundError(SessionManagerError, LookupError):
    """An operation needs a session that the store does not hold."""


class StorageError(SessionManagerError):
    """The storage backend failed; the driver's exception is chained as ``__cause__``."""


class CorruptSessionError(StorageError):
    """Stored data could not be read back; the message names the file, key or row."""


class StoreUnavailableError(StorageError):
    """The storage server could not be reached; the message names its address."""


class MissingDependencyError(SessionManagerError, ImportError):
    """An optional extra is not installed; the message gives the exact pip line."""


class PromptBudgetError(SessionManagerError, ValueError):
    """Even the essential messages of a prompt cannot fit the token budget."""


class SummarizationError(SessionManagerError):
    """The summarizer failed; the conversation was left unchanged."""


class ToolProcessingError(SessionManagerError):
    """No valid tool call came from the model after the allowed retries."""


SessionNotFound = SessionNotFoundError
"""Alias kept for code written against 0.1.3."""


class SessionAlreadyExists(SessionManagerError):
    """A session with this id already exists (kept from 0.1.3)."""


class InvalidSessionOperation(SessionManagerError):
    """The operation is not valid for the session in its current state (kept from 0.1.3)."""
