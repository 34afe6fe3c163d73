"""a2a-session-manager: durable, inspectable conversation sessions for AI applications.

Re-exports the models, the stores, the factories and the exceptions.
"""

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
    create_file_session_store,
    create_redis_session_store,
    create_session_store,
    create_sqlite_session_store,
)

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
