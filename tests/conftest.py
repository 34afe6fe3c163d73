"""Shared fixtures: a real Redis server and one factory for every store backend.

Redis: ``REDIS_URL`` when set; otherwise a throwaway ``redis-server`` started on a free
loopback port for the test session (and stopped at the end); otherwise the Redis tests
skip with the reason, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from a2a_session_manager.storage import SessionStore, create_session_store

BACKENDS = ["memory", "file", "sqlite", "redis"]
DURABLE_BACKENDS = ["file", "sqlite", "redis"]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _ping(url: str) -> bool:
    try:
        import redis
    except ImportError:
        return False
    try:
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real Redis server for this test session."""
    url = os.environ.get("REDIS_URL")
    if url:
        if not _ping(url):
            pytest.fail(f"REDIS_URL={url} is set but the server does not answer PING")
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        reason = "no REDIS_URL and no redis-server on PATH: Redis tests need a real server"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not _ping(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            reason = f"could not start a throwaway redis-server on port {port}"
            if IN_CI:
                pytest.fail(reason)
            pytest.skip(reason)
        time.sleep(0.05)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def store_url(kind: str, tmp_path: Path, redis_url: str | None = None, prefix: str | None = None) -> str:
    """URL of a fresh store of ``kind`` under ``tmp_path`` (Redis: a fresh key prefix)."""
    if kind == "memory":
        return "memory://"
    if kind == "file":
        return f"file://{tmp_path / 'file-store'}"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    if kind == "redis":
        assert redis_url is not None
        return f"{redis_url}?prefix={prefix or 'test-' + uuid.uuid4().hex[:12] + ':'}"
    raise ValueError(kind)


def make_store(kind: str, tmp_path: Path, getfixturevalue: Callable[[str], Any], **options: Any) -> SessionStore:
    """A fresh store of ``kind``; Redis pulls in the server fixture lazily."""
    url = store_url(kind, tmp_path, getfixturevalue("redis_url") if kind == "redis" else None)
    return create_session_store(url, **options)


@pytest.fixture(params=BACKENDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[SessionStore]:
    """A fresh, empty store of every backend."""
    s = make_store(store_kind, tmp_path, request.getfixturevalue)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def fresh_store_url(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """URL of a fresh store of every backend, to open it again or from another process."""
    return store_url(store_kind, tmp_path, request.getfixturevalue("redis_url") if store_kind == "redis" else None)


@pytest.fixture
def open_store(fresh_store_url: str) -> Iterator[Callable[..., SessionStore]]:
    """Open (another) store object on the data of ``fresh_store_url``; all closed at teardown.

    Options (``expiration_seconds=1``) go to ``create_session_store``. Memory stores share
    nothing between objects: each call gives an empty one.
    """
    opened: list[SessionStore] = []

    def _open(**options: Any) -> SessionStore:
        s = create_session_store(fresh_store_url, **options)
        opened.append(s)
        return s

    try:
        yield _open
    finally:
        for s in opened:
            s.close()
        if fresh_store_url.startswith("redis"):
            _delete_prefix(fresh_store_url)


def _delete_prefix(url: str) -> None:
    """Delete the keys under a test's own Redis prefix (never anything else)."""
    import redis

    base, _, query = url.partition("?")
    prefix = parse_qs(query)["prefix"][0]
    client = redis.Redis.from_url(base)
    try:
        batch = list(client.scan_iter(match=prefix + "*", count=500))
        if batch:
            client.delete(*batch)
    finally:
        client.close()


@pytest.fixture(autouse=True)
def _restore_registered_prices() -> Iterator[None]:
    """Prices registered by one test (README blocks call ``register_model_pricing``) never leak."""
    from a2a_session_manager import pricing

    saved = dict(pricing._REGISTERED)
    yield
    with pricing._LOCK:
        pricing._REGISTERED.clear()
        pricing._REGISTERED.update(saved)
