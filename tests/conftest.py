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
CLUSTER = "redis-cluster"
"""A store kind only the storage conformance suite adds: Redis Cluster (3 real nodes)."""
CLUSTER_NODES = 3
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
    return _free_ports(1)[0]


def _free_ports(n: int) -> list[int]:
    """``n`` distinct free loopback ports (all held open while choosing, so none repeats)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


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


def _fail_or_skip(reason: str) -> None:
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL (``?cluster=1``) of a throwaway Redis Cluster: 3 primaries on free loopback ports.

    ``REDIS_CLUSTER_URL`` when set. Otherwise needs ``redis-server`` and ``redis-cli`` on
    PATH; without them the cluster tests skip, except under ``CI=true``, where they fail.
    """
    url = os.environ.get("REDIS_CLUSTER_URL")
    if url:
        yield url
        return
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        _fail_or_skip("no REDIS_CLUSTER_URL and no redis-server/redis-cli on PATH: cluster tests need real nodes")
    assert server is not None and cli is not None
    root = tmp_path_factory.mktemp("redis-cluster")
    chosen = _free_ports(2 * CLUSTER_NODES)
    # The bus port is named explicitly: the default (port + 10000) may be above 65535.
    ports, bus_ports = chosen[:CLUSTER_NODES], chosen[CLUSTER_NODES:]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for port, bus in zip(ports, bus_ports, strict=True):
            node = root / str(port)
            node.mkdir()
            procs.append(
                subprocess.Popen(
                    [server, "--bind", "127.0.0.1", "--port", str(port), "--cluster-enabled", "yes",
                     "--cluster-port", str(bus), "--cluster-config-file", str(node / "nodes.conf"),
                     "--save", "", "--appendonly", "no", "--dir", str(node)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )  # fmt: skip
        deadline = time.monotonic() + 10
        while not all(_ping(f"redis://127.0.0.1:{p}/0") for p in ports):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                _fail_or_skip(f"could not start redis-server cluster nodes on ports {ports}")
            time.sleep(0.05)
        created = subprocess.run(
            [cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports), "--cluster-replicas", "0",
             "--cluster-yes"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if created.returncode != 0:
            _fail_or_skip(f"redis-cli --cluster create failed: {created.stdout[-500:]} {created.stderr[-500:]}")
        _wait_for_cluster(ports)
        yield f"redis://127.0.0.1:{ports[0]}?cluster=1"
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()


def _wait_for_cluster(ports: list[int]) -> None:
    import redis

    deadline = time.monotonic() + 20
    while True:
        states = []
        for port in ports:
            client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
            try:
                states.append(client.cluster("info").get("cluster_state"))
            finally:
                client.close()
        if all(state == "ok" for state in states):
            return
        if time.monotonic() > deadline:
            _fail_or_skip(f"the throwaway Redis Cluster never reached cluster_state:ok ({states})")
        time.sleep(0.1)


def store_url(kind: str, tmp_path: Path, redis_url: str | None = None, prefix: str | None = None) -> str:
    """URL of a fresh store of ``kind`` under ``tmp_path`` (Redis: a fresh key prefix).

    For ``redis-cluster``, ``redis_url`` is the cluster's URL (``?cluster=1``).
    """
    if kind == "memory":
        return "memory://"
    if kind == "file":
        return f"file://{tmp_path / 'file-store'}"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    if kind == "redis":
        assert redis_url is not None
        return f"{redis_url}?prefix={prefix or 'test-' + uuid.uuid4().hex[:12] + ':'}"
    if kind == CLUSTER:
        assert redis_url is not None
        return f"{redis_url}&prefix={prefix or 'test-' + uuid.uuid4().hex[:12] + ':'}"
    raise ValueError(kind)


def server_url_for(kind: str, getfixturevalue: Callable[[str], Any]) -> str | None:
    """The Redis (or Redis Cluster) URL a store kind needs, starting its fixture lazily."""
    if kind == "redis":
        return str(getfixturevalue("redis_url"))
    if kind == CLUSTER:
        return str(getfixturevalue("redis_cluster_url"))
    return None


def make_store(kind: str, tmp_path: Path, getfixturevalue: Callable[[str], Any], **options: Any) -> SessionStore:
    """A fresh store of ``kind``; Redis pulls in the server fixture lazily."""
    url = store_url(kind, tmp_path, server_url_for(kind, getfixturevalue))
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
    return store_url(store_kind, tmp_path, server_url_for(store_kind, request.getfixturevalue))


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
    params = parse_qs(query)
    prefix = params["prefix"][0]
    if params.get("cluster") == ["1"]:
        from redis.cluster import RedisCluster

        cluster = RedisCluster.from_url(base)
        try:
            for key in cluster.scan_iter(match=prefix + "*", count=500):
                cluster.delete(key)  # one key at a time: keys of different sessions live on different nodes
        finally:
            cluster.close()
        return
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
