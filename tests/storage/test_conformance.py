"""Every store promise of API.md, run on every backend, sync and async, through the shipped kit.

The cases live in ``a2a_session_manager.testing`` (``StoreConformance``), the kit a
third-party backend runs too. Here ``store_kind`` gives memory, file, SQLite, Redis and a
real Redis Cluster; ``api`` calls the sync or the async twin of each method, so each case
runs ten times. Cases about other store objects or other processes run on the durable
backends only, since a memory store is private to its object. The last class shows the
kit's promise to third parties: a store of their own passes it in a few lines.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from a2a_session_manager import InMemorySessionStore, SessionEvent
from a2a_session_manager.storage import SessionStore, create_sqlite_session_store
from a2a_session_manager.testing import (
    EXPIRATION,
    PROCESSES,
    SHARED_DATA,
    StoreConformance,
    StoreSpec,
    case_needs,
    run_worker,
)

from tests.conftest import BACKENDS, CLUSTER, DURABLE_BACKENDS


@pytest.fixture
def store_kind(request: pytest.FixtureRequest) -> str:
    """The backend under test (parametrized by ``TestOurStores.pytest_generate_tests``)."""
    return str(request.param)


class TestOurStores(StoreConformance):
    """The kit on memory, file, SQLite, Redis and a real 3-node Redis Cluster."""

    store_paths = ("file-store/", "store.db")

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        # A case that needs a second store object or another process runs on the durable
        # backends only: a memory store shares nothing between objects.
        if "store_kind" in metafunc.fixturenames:
            durable = bool(case_needs(metafunc.function) & {SHARED_DATA, PROCESSES})
            kinds = [*DURABLE_BACKENDS, CLUSTER] if durable else [*BACKENDS, CLUSTER]
            metafunc.parametrize("store_kind", kinds, indirect=True)

    @pytest.fixture
    def open_store(self, open_store: Callable[..., SessionStore]) -> Callable[..., SessionStore]:
        """``tests/conftest.py``'s ``open_store``: the test's fresh URL of ``store_kind``, closed at teardown."""
        return open_store

    @pytest.fixture
    def store_spec(self, fresh_store_url: str) -> StoreSpec:
        """The same fresh URL, for the worker processes."""
        return fresh_store_url

    @pytest.fixture
    def other(self, store_kind: str, store: SessionStore, open_store: Callable[..., SessionStore]) -> SessionStore:
        """A second handle on the same data: another store object, or the same one for memory."""
        return store if store_kind == "memory" else open_store()


# ================================================================ the kit itself
class TinyStore(InMemorySessionStore):
    """A third party's store, as far as the kit can tell: a SessionStore subclass of its own."""


class TestAThirdPartyStorePassesTheKitInAFewLines(StoreConformance):
    objects_share_data = False  # each TinyStore object holds its own data

    @pytest.fixture
    def open_store(self) -> Callable[..., SessionStore]:
        return lambda **options: TinyStore(**options)


def test_the_kit_marks_the_cases_that_need_more_than_one_store() -> None:
    needs = {
        name: case_needs(getattr(StoreConformance, name)) for name in dir(StoreConformance) if name.startswith("test_")
    }
    assert needs["test_data_survives_a_new_store_object"] == {SHARED_DATA}
    assert needs["test_killing_a_writer_keeps_every_acknowledged_event_and_the_store_writable"] == {
        SHARED_DATA,
        PROCESSES,
    }
    assert needs["test_ttl_forgets_the_whole_session_and_every_write_refreshes_it"] == {EXPIRATION}
    assert needs["test_fresh_store_is_empty"] == frozenset()
    assert sum(1 for n in needs.values() if PROCESSES in n) == 5


def test_the_worker_opens_a_store_by_factory_as_well_as_by_url(tmp_path: Path) -> None:
    path = str(tmp_path / "tiny.db")
    store = create_sqlite_session_store(path)
    try:
        store.append_event("s", SessionEvent(message="mine"))
        run_worker("append-one", ("a2a_session_manager.storage:create_sqlite_session_store", {"path": path}), "s", "x")
        assert [e.message for e in store.get_events("s")] == ["mine", "x"]
        shown: Any = json.loads(run_worker("read", f"sqlite:///{path}", "s"))
        assert shown["messages"] == ["mine", "x"]
    finally:
        store.close()


def test_importing_the_core_does_not_import_the_kit_or_pytest() -> None:
    code = (
        "import sys, a2a_session_manager, a2a_session_manager.storage, a2a_session_manager.testing;"
        "print(sorted(m for m in sys.modules if m == 'pytest' or m.endswith('testing.conformance')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
