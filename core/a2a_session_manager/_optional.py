"""Lazy loading of optional extras: the only place an extra is imported by name."""

from __future__ import annotations

import importlib
from types import ModuleType

from a2a_session_manager.exceptions import MissingDependencyError

__all__ = ["install_hint", "require"]


def install_hint(extra: str) -> str:
    """Return the pip command that installs ``extra``.

    Args:
        extra: Name of the extra in pyproject.toml.

    Returns:
        The exact command line, e.g. ``pip install 'a2a-session-manager[redis]'``.
    """
    return f"pip install 'a2a-session-manager[{extra}]'"


def require(module: str, *, extra: str, feature: str) -> ModuleType:
    """Import an optional module or raise an error that says how to install it.

    Args:
        module: Dotted module name, e.g. ``"redis.asyncio"``.
        extra: The extra that provides it.
        feature: What needs it, for the message (e.g. ``"RedisSessionStore"``).

    Returns:
        The imported module.

    Raises:
        MissingDependencyError: The module is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise MissingDependencyError(
            f"{feature} needs the '{top}' package. Install it with: {install_hint(extra)}"
        ) from exc
