"""Names kept from 0.1.3 and the exception tree of API.md."""

from __future__ import annotations

import a2a_session_manager
import pytest
from a2a_session_manager import exceptions
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


def test_0_1_3_store_names_still_import() -> None:
    from a2a_session_manager.storage import (
        FileSessionStore,
        InMemorySessionStore,
        RedisSessionStore,
        SessionStore,
        SessionStoreInterface,
        SessionStoreProvider,
    )

    assert SessionStoreInterface is SessionStore
    assert issubclass(InMemorySessionStore, SessionStoreInterface)
    assert issubclass(FileSessionStore, SessionStoreInterface)
    assert issubclass(RedisSessionStore, SessionStoreInterface)
    assert isinstance(SessionStoreProvider.get_store(), SessionStoreInterface)
    assert a2a_session_manager.SessionStoreInterface is SessionStore


def test_session_not_found_is_the_0_1_3_name_of_session_not_found_error() -> None:
    assert SessionNotFound is SessionNotFoundError
    with pytest.raises(SessionNotFound):
        raise SessionNotFoundError("session 'x' does not exist", session_id="x")


@pytest.mark.parametrize(
    ("error", "parents"),
    [
        (InvalidSessionIdError, (SessionManagerError, ValueError)),
        (InvalidDataError, (SessionManagerError, ValueError, TypeError)),
        (SessionNotFoundError, (SessionManagerError, LookupError)),
        (StorageError, (SessionManagerError,)),
        (CorruptSessionError, (StorageError,)),
        (StoreUnavailableError, (StorageError,)),
        (MissingDependencyError, (SessionManagerError, ImportError)),
        (PromptBudgetError, (SessionManagerError, ValueError)),
        (SummarizationError, (SessionManagerError,)),
        (ToolProcessingError, (SessionManagerError,)),
        (SessionAlreadyExists, (SessionManagerError,)),
        (InvalidSessionOperation, (SessionManagerError,)),
    ],
)
def test_exception_tree_co_inherits_the_fitting_builtin(
    error: type[SessionManagerError], parents: tuple[type[BaseException], ...]
) -> None:
    for parent in parents:
        assert issubclass(error, parent)
    instance = error("what went wrong", session_id="s1")
    assert instance.session_id == "s1"
    assert str(instance) == "what went wrong"
    assert error("no session").session_id is None
    assert getattr(a2a_session_manager, error.__name__) is error


def test_builtin_handlers_catch_our_errors() -> None:
    with pytest.raises(ValueError):
        raise InvalidSessionIdError("bad id")
    with pytest.raises(LookupError):
        raise SessionNotFoundError("missing", session_id="s")
    with pytest.raises(ImportError):
        raise MissingDependencyError("install it")


def test_every_exception_is_drawn_in_the_module_docstring() -> None:
    doc = exceptions.__doc__ or ""
    for name in exceptions.__all__:
        cls = getattr(exceptions, name)
        if name == "SessionNotFound":
            continue
        assert issubclass(cls, SessionManagerError)
        assert name in doc, f"{name} is missing from the tree in exceptions.py's docstring"


def test_default_ids_are_random_version_4_uuids_in_hex_as_in_0_1_3() -> None:
    import uuid

    from a2a_session_manager import SessionEvent, SessionRun

    ids = [SessionEvent().id for _ in range(500)] + [SessionRun().id for _ in range(500)]
    assert len(set(ids)) == len(ids)
    for value in ids:
        parsed = uuid.UUID(hex=value)
        assert (parsed.hex, parsed.version, parsed.variant) == (value, 4, uuid.RFC_4122)
