"""``Twin``: one awaitable view over a store's sync or async API, so a case runs both ways."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from a2a_session_manager.models.session import Session
from a2a_session_manager.storage.base import SessionStore

__all__ = ["Twin"]


class Twin:
    """Calls ``store.a<name>`` (async) or runs ``store.<name>`` in a coroutine (sync).

    ``await twin.get("s1")`` is ``await store.aget("s1")`` or ``store.get("s1")``, so a test
    written once covers both twins of every method with the same arguments.

    Args:
        store: The store under test.
        use_async: Use the ``a``-twins.
    """

    def __init__(self, store: SessionStore, *, use_async: bool) -> None:
        self.store = store
        self.use_async = use_async

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        """The sync or async twin of the store's public method ``name``, as a coroutine function.

        Args:
            name: A public method name without the ``a`` (``"get"``, ``"append_event"``).

        Returns:
            A coroutine function taking the method's arguments.

        Raises:
            AttributeError: ``name`` is private, or the store has no such method or no
                async twin of it.
        """
        if name.startswith("_"):
            raise AttributeError(name)
        if self.use_async:
            method: Callable[..., Awaitable[Any]] = getattr(self.store, "a" + name)
            return method
        sync = getattr(self.store, name)
        if not hasattr(self.store, "a" + name):
            raise AttributeError(f"{type(self.store).__name__}.{name} has no async twin a{name}")

        async def call(*args: Any, **kwargs: Any) -> Any:
            return sync(*args, **kwargs)

        return call

    async def ancestors(self, session: Session) -> list[Session]:
        """``session.ancestors()`` or ``await session.aancestors()``.

        Args:
            session: A session bound to the store under test.

        Returns:
            Its stored ancestors, nearest first.
        """
        return await session.aancestors() if self.use_async else session.ancestors()

    async def descendants(self, session: Session) -> list[Session]:
        """``session.descendants()`` or ``await session.adescendants()``.

        Args:
            session: A session bound to the store under test.

        Returns:
            Its stored descendants, depth-first.
        """
        return await session.adescendants() if self.use_async else session.descendants()

    def __repr__(self) -> str:
        return f"Twin({type(self.store).__name__}, {'async' if self.use_async else 'sync'})"
