"""HTML views of sessions, runs and token summaries for Jupyter (no third-party packages).

The views are defined in ``models._html``, beside the models whose ``_repr_html_`` they
serve; this module keeps their public names where they have always been imported.
See ``models._html`` for what they show and why they look the same in every host.
"""

from __future__ import annotations

from a2a_session_manager.models._html import (
    MAX_CHILDREN_SHOWN,
    MAX_EVENTS_SHOWN,
    ROOT_CLASS,
    STYLESHEET,
    llm_call_summary,
    run_html,
    session_html,
    summary_html,
)

__all__ = [
    "MAX_CHILDREN_SHOWN",
    "MAX_EVENTS_SHOWN",
    "ROOT_CLASS",
    "STYLESHEET",
    "llm_call_summary",
    "run_html",
    "session_html",
    "summary_html",
]
