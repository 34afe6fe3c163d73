"""Redis fixtures shared by the Redis store's test files: a fresh prefix, a raw client, a store factory."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import _delete_prefix


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A fresh key prefix on the test server; its keys are deleted after the test."""
    value = f"t-redis-{uuid.uuid4().hex[:10]}:"
    yield value
    _delete_prefix(f"{redis_url}?prefix={value}")


@pytest.fixture
def raw(redis_url: str) -> Iterator[Any]:
    """A plain redis-py client on the test server, to look at what the store wrote."""
    import redis

    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def make(redis_url: str, prefix: str) -> Iterator[Callable[..., Any]]:
    """Build ``RedisSessionStore``s on the test server under the test's prefix (closed afterwards)."""
    from a2a_session_manager.storage.providers.redis import RedisSessionStore

    made: list[RedisSessionStore] = []

    def build(**options: Any) -> RedisSessionStore:
        options.setdefault("key_prefix", prefix)
        if "client" not in options and "host" not in options:
            options.setdefault("url", redis_url)
        store = RedisSessionStore(**options)
        made.append(store)
        return store

    yield build
    for store in made:
        store.close()
