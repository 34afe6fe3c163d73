"""Fresh stores of every backend for the checkpointer tests, Redis prefixes deleted at teardown."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from a2a_session_manager.storage import SessionStore, create_session_store

from tests.conftest import _delete_prefix, server_url_for, store_url

NewStore = Callable[..., tuple[SessionStore, str]]


@pytest.fixture
def new_store(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[NewStore]:
    """``new_store(kind, **options)`` → (a fresh store, its URL to open it again elsewhere)."""
    opened: list[tuple[SessionStore, str]] = []

    def _new(kind: str, **options: Any) -> tuple[SessionStore, str]:
        url = store_url(kind, tmp_path / uuid.uuid4().hex[:8], server_url_for(kind, request.getfixturevalue))
        store = create_session_store(url, **options)
        opened.append((store, url))
        return store, url

    try:
        yield _new
    finally:
        for store, url in opened:
            store.close()
            if url.startswith("redis"):
                _delete_prefix(url)
