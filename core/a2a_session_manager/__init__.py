"""a2a-session-manager: durable, inspectable conversation sessions for AI applications.

Re-exports the models, the stores, the factories and the exceptions.
"""

from typing import TYPE_CHECKING, Any

from a2a_session_manager.exceptions import (
    CorruptSessionError,
    InvalidDataError,
    InvalidSessionIdError,
    InvalidSessionOperation,
    MissingDependencyError,
    PromptBudgetError,
    SessionAlreadyExists,
    SessionManagerError,
    SessionNotFound,
    SessionNotFoundError,
    StorageError,
    StoreUnavailableError,
    SummarizationError,
    ToolProcessingError,
)
from a2a_session_manager.models import (
    EventSource,
    EventType,
    RunStatus,
    Session,
    SessionEvent,
    SessionMetadata,
    SessionRun,
    TokenSummary,
    TokenUsage,
)
from a2a_session_manager.pricing import register_model_pricing
from a2a_session_manager.storage import (
    InMemorySessionStore,
    SessionStore,
    SessionStoreInterface,
    SessionStoreProvider,
    create_session_store,
)

if TYPE_CHECKING:
    from a2a_session_manager.storage.providers.file import create_file_session_store
    from a2a_session_manager.storage.providers.redis import create_redis_session_store
    from a2a_session_manager.storage.providers.sqlite import create_sqlite_session_store

# Backend factories load their backend module on first use, so importing the package does
# not load the file, SQLite or Redis backends (nor sqlite3 or redis-py).
_LAZY = frozenset({"create_file_session_store", "create_redis_session_store", "create_sqlite_session_store"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from a2a_session_manager import storage

        return getattr(storage, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__version__ = "0.2.0"

__all__ = [
    "CorruptSessionError",
    "EventSource",
    "EventType",
    "InMemorySessionStore",
    "InvalidDataError",
    "InvalidSessionIdError",
    "InvalidSessionOperation",
    "MissingDependencyError",
    "PromptBudgetError",
    "RunStatus",
    "Session",
    "SessionAlreadyExists",
    "SessionEvent",
    "SessionManagerError",
    "SessionMetadata",
    "SessionNotFound",
    "SessionNotFoundError",
    "SessionRun",
    "SessionStore",
    "SessionStoreInterface",
    "SessionStoreProvider",
    "StorageError",
    "StoreUnavailableError",
    "SummarizationError",
    "TokenSummary",
    "TokenUsage",
    "ToolProcessingError",
    "__version__",
    "create_file_session_store",
    "create_redis_session_store",
    "create_session_store",
    "create_sqlite_session_store",
    "register_model_pricing",
]
