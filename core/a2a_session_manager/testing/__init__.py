"""A conformance kit for session stores: prove a backend keeps every promise of API.md.

This project's own four backends and Redis Cluster run the same cases. A third-party store
(a ``SessionStore`` subclass) proves itself in a test module of its own::

    import pytest
    from a2a_session_manager.testing import StoreConformance

    class TestMyStore(StoreConformance):
        @pytest.fixture
        def open_store(self, tmp_path):
            return lambda **options: MyStore(tmp_path / "data", **options)

Run it with ``pytest``: each case runs through the store's sync methods and through its
``a``-twins. ``StoreConformance``'s docstring (in ``a2a_session_manager.testing.conformance``)
lists the class attributes and fixtures that say what a store offers beyond one object
(``objects_share_data``, ``store_spec`` for the multi-process cases, ``supports_expiration``,
``store_paths``).

Names are loaded on first use: importing ``a2a_session_manager.testing`` costs nothing, and
``StoreConformance`` imports pytest (install it; the kit needs no pytest plugin).
``import a2a_session_manager`` never imports this package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from a2a_session_manager._optional import require
from a2a_session_manager.testing._twin import Twin

if TYPE_CHECKING:
    from a2a_session_manager.testing.conformance import (
        EXPIRATION,
        PROCESSES,
        SHARED_DATA,
        StoreConformance,
        StoreSpec,
        case_needs,
        run_worker,
        worker_command,
    )

__all__ = [
    "EXPIRATION",
    "PROCESSES",
    "SHARED_DATA",
    "StoreConformance",
    "StoreSpec",
    "Twin",
    "case_needs",
    "run_worker",
    "worker_command",
]

_CONFORMANCE = "a2a_session_manager.testing.conformance"


def __getattr__(name: str) -> Any:
    # Lazy, so the worker process (``python -m a2a_session_manager.testing._worker``) and
    # ``Twin`` users do not import pytest.
    if name in __all__:
        return getattr(_load_conformance(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _load_conformance() -> Any:
    pytest = require("pytest", extra="dev", feature="a2a_session_manager.testing")
    # Installed packages are not assertion-rewritten unless registered before their import:
    # without this a failing case would say only "AssertionError".
    pytest.register_assert_rewrite(_CONFORMANCE)
    return importlib.import_module(_CONFORMANCE)
