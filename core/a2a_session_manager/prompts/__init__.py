"""Prompt building: a session's events as a valid, token-budgeted OpenAI message list.

Three layers, each usable alone:

* ``select_events(events, strategy, max_tokens=..., model=...)`` chooses which events go
  into a prompt (pure: no I/O, same event objects back, in chronological order). The
  LangChain middleware and the LlamaIndex memory call it on events converted from their
  framework's messages.
* ``render_events(events)`` renders events as OpenAI chat messages and pairs tool calls
  with their results, so the list is always valid for the chat API.
* ``build_prompt_from_session(session, strategy, ...)`` is select + render, plus the
  summaries of ancestor sessions for ``HIERARCHICAL`` (or ``include_parent_context``);
  ``abuild_prompt_from_session`` is its async twin.

``truncate_prompt_to_token_limit(prompt, max_tokens, model)`` fits an existing message
list to a budget.

**Validity.** An assistant turn that called tools carries ``tool_calls`` and is followed
by exactly one ``tool`` message per call, with the matching ``tool_call_id``; there is
never a tool message without its call, and never ``content: None`` without
``tool_calls``. Such a turn and its results form one *tool group*, which is kept or
dropped whole. Tool results are matched to their turn by ``tool_call_id`` (the neutral
format), or by ``metadata["parent_event_id"]`` for 0.1.3's tool events, which have no
call id: the call id is then synthesized from the tool event's id (``call_`` + 24 hex
digits of its SHA-1, stable across calls) and added to the parent turn's ``tool_calls``.
A tool result whose calling turn is not an assistant message in the history (0.1.3's
tool processor recorded it as a SYSTEM event) gets a synthesized assistant turn that
makes the call, placed where the result is. Calls the model asked for but that never got
a result are left out of the turn (a turn left with no text and no calls is skipped),
and a second result for a call that already has one is ignored.

**Roles.** USER events are ``user``, LLM events ``assistant``, SYSTEM events ``system``;
SUMMARY and CONTEXT_BRIDGE events are ``system`` messages; REFERENCE events are not
rendered.

**Budgets.** Counts are the model's tokenizer's, by OpenAI's chat rule (see
``a2a_session_manager.tokens``: 3 per message, +1 per ``name``, tool calls as compact
JSON, +3 for the reply primer), so ``count_messages_tokens(prompt, model) <= max_tokens``
always holds for a returned prompt. The *essential* messages are always kept: the
system messages that open the session (every system, summary or context-bridge event
before the first other message), the first user message (the task) and the latest user
message. When those alone exceed ``max_tokens``, ``PromptBudgetError`` is raised (use
``truncate_prompt_to_token_limit`` to shorten content instead). Everything else is added
newest first and the walk stops at the first turn that does not fit, so the oldest turns
are dropped first and the kept history is contiguous; system messages later in the
session are kept when the walk reaches them, like any other turn.

**Speed.** Each event's neutral form is parsed once into its typed view
(``models.neutral.view``: role, text, tool calls, tool call id), and its token count is
computed once (``messages.event_token_count``); both are cached on the event. The walk
reads the view's fields, not the untyped ``message`` (only the repair of a tool result
with no calling turn reads its raw keys, for 0.1.3's ``tool_name`` and ``args``). A
budgeted walk looks only at the turns it keeps (plus one), so building a 4,000-token
prompt costs the same for a 1,000- or a 100,000-event session; only ``TASK_FOCUSED``
(which scores every earlier turn) reads the whole history.

**Layout.** ``_units`` turns events into units (a message or a whole tool group) and
renders them; ``_select`` holds the strategies, the budgeted walk and BM25;
``_session`` adds ancestor summaries and builds a session's prompt; ``_truncate`` fits
an existing message list. This package re-exports their public names.
"""

from __future__ import annotations

from a2a_session_manager.prompts._select import PromptStrategy, select_events
from a2a_session_manager.prompts._session import (
    ANCESTOR_SUMMARY_PREFIX,
    abuild_prompt_from_session,
    build_prompt_from_session,
)
from a2a_session_manager.prompts._truncate import (
    TRUNCATION_MARKER,
    PromptTruncationWarning,
    truncate_prompt_to_token_limit,
)
from a2a_session_manager.prompts._units import Message as Message  # the message type, as before the split
from a2a_session_manager.prompts._units import render_events

__all__ = [
    "ANCESTOR_SUMMARY_PREFIX",
    "TRUNCATION_MARKER",
    "PromptStrategy",
    "PromptTruncationWarning",
    "abuild_prompt_from_session",
    "build_prompt_from_session",
    "render_events",
    "select_events",
    "truncate_prompt_to_token_limit",
]

# The public classes and functions report this package as their home (as they did when it
# was one module), so reprs, docs and qualified names stay what users already see.
for _public in (
    PromptStrategy,
    PromptTruncationWarning,
    abuild_prompt_from_session,
    build_prompt_from_session,
    render_events,
    select_events,
    truncate_prompt_to_token_limit,
):
    _public.__module__ = __name__
del _public
