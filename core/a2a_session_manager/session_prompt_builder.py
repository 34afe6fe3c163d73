"""0.1.3's module name for prompt building: an alias of ``a2a_session_manager.prompts``.

Code written against 0.1.3 keeps working::

    from a2a_session_manager.session_prompt_builder import build_prompt_from_session, PromptStrategy
"""

from __future__ import annotations

from a2a_session_manager.prompts import (
    TRUNCATION_MARKER,
    PromptStrategy,
    PromptTruncationWarning,
    abuild_prompt_from_session,
    build_prompt_from_session,
    render_events,
    select_events,
    truncate_prompt_to_token_limit,
)

__all__ = [
    "TRUNCATION_MARKER",
    "PromptStrategy",
    "PromptTruncationWarning",
    "abuild_prompt_from_session",
    "build_prompt_from_session",
    "render_events",
    "select_events",
    "truncate_prompt_to_token_limit",
]
