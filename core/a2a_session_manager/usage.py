"""The usage ledger: provider-reported usage as reported, and roll-ups over sessions.

Parsers turn what a provider or framework reported into a ``TokenUsage`` with
``origin="reported"``; they never re-count text. Conventions (OpenAI's and LangChain's):
``prompt_tokens`` includes cached and cache-write tokens, ``completion_tokens`` includes
reasoning tokens. Anthropic's raw usage, which reports cache reads and writes apart from
``input_tokens``, is added up into that form.

``summarize_session`` and ``summarize_tree`` roll usage up by model, source, run, origin
(and session, for a tree). Each bucket is a ``TokenSummary``: its cost sums the events
whose model has a price, and ``unpriced_tokens`` says how many tokens had none, so a
total is never mistaken for complete when it is not.

``format_cost``, ``format_tokens`` and ``cost_usd`` are the one way costs and counts
are shown (the HTML views, the CLI, the demo; they are built on ``models._format``,
which the views use directly): a cost that had no price reads "unpriced", never
"$0.000000"; a total with unpriced tokens says how many ("$0.0123 + 1,200 unpriced
tokens"); an estimated count is marked ("~1,234 tokens (estimated)").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field, computed_field

from a2a_session_manager.models import _format
from a2a_session_manager.models._format import format_usd
from a2a_session_manager.models.session import Session
from a2a_session_manager.models.token_usage import TokenSummary, TokenUsage
from a2a_session_manager.pricing import PRICES_AS_OF
from a2a_session_manager.storage.base import SessionStore

__all__ = [
    "UsageReport",
    "asummarize_tree",
    "cost_usd",
    "format_cost",
    "format_tokens",
    "format_usd",
    "summarize_session",
    "summarize_tree",
    "usage_from_langchain",
    "usage_from_llamaindex",
    "usage_from_openai",
]


# -------------------------------------------------------------------------- parsing
def _as_mapping(value: Any, what: str) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        dumped = dump()
        if isinstance(dumped, Mapping):
            return dumped
    raise TypeError(f"{what} must be a mapping (or a pydantic object), not {type(value).__name__}")


def _maybe_mapping(value: Any) -> Mapping[str, Any] | None:
    if value is None:
        return None
    try:
        return _as_mapping(value, "usage")
    except TypeError:
        return None


def _count(data: Mapping[str, Any] | None, key: str, what: str) -> int:
    if data is None:
        return 0
    value = data.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != int(value):
        raise ValueError(f"{what}: {key!r} must be a non-negative integer, not {value!r}")
    return int(value)


def _details(data: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    return _maybe_mapping(data.get(key))


def _model_of(data: Mapping[str, Any], model: str | None) -> str:
    if model:
        return model
    for key in ("model", "model_name", "model_version", "modelVersion"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _reported(
    model: str, prompt: int, completion: int, total: int, cached: int = 0, reasoning: int = 0, written: int = 0
) -> TokenUsage:
    return TokenUsage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=total or prompt + completion,
        model=model,
        origin="reported",
        cached_prompt_tokens=min(cached, prompt),
        reasoning_tokens=min(reasoning, completion),
        cache_write_tokens=min(written, max(prompt - cached, 0)),
    )


def _openai_usage(usage: Mapping[str, Any], model: str, what: str) -> TokenUsage | None:
    if "prompt_tokens" in usage or "completion_tokens" in usage:  # Chat Completions
        prompt = _count(usage, "prompt_tokens", what)
        completion = _count(usage, "completion_tokens", what)
        return _reported(
            model,
            prompt,
            completion,
            _count(usage, "total_tokens", what),
            cached=_count(_details(usage, "prompt_tokens_details"), "cached_tokens", what),
            reasoning=_count(_details(usage, "completion_tokens_details"), "reasoning_tokens", what),
        )
    if "input_tokens" in usage or "output_tokens" in usage:
        inp = _count(usage, "input_tokens", what)
        out = _count(usage, "output_tokens", what)
        reasoning = _count(_details(usage, "output_tokens_details"), "reasoning_tokens", what)
        if "cache_read_input_tokens" in usage or "cache_creation_input_tokens" in usage:
            # Anthropic: input_tokens excludes the tokens read from or written to the cache.
            read = _count(usage, "cache_read_input_tokens", what)
            written = _count(usage, "cache_creation_input_tokens", what)
            prompt = inp + read + written
            return _reported(model, prompt, out, prompt + out, cached=read, reasoning=reasoning, written=written)
        # OpenAI Responses API: input_tokens includes the cached ones.
        return _reported(
            model,
            inp,
            out,
            _count(usage, "total_tokens", what),
            cached=_count(_details(usage, "input_tokens_details"), "cached_tokens", what),
            reasoning=reasoning,
        )
    return None


def _gemini_usage(usage: Mapping[str, Any], model: str, what: str) -> TokenUsage | None:
    if "prompt_token_count" not in usage and "candidates_token_count" not in usage:
        return None
    thoughts = _count(usage, "thoughts_token_count", what)
    prompt = _count(usage, "prompt_token_count", what) + _count(usage, "tool_use_prompt_token_count", what)
    completion = _count(usage, "candidates_token_count", what) + thoughts
    return _reported(
        model,
        prompt,
        completion,
        _count(usage, "total_token_count", what),
        cached=_count(usage, "cached_content_token_count", what),
        reasoning=thoughts,
    )


def usage_from_openai(usage: Mapping[str, Any] | Any, model: str | None = None) -> TokenUsage:
    """Read OpenAI-reported usage as reported (origin ``"reported"``).

    Accepts the Chat Completions ``usage`` (``prompt_tokens``, ``completion_tokens``,
    ``prompt_tokens_details.cached_tokens``, ``completion_tokens_details.reasoning_tokens``),
    the Responses API ``usage`` (``input_tokens``, ``output_tokens``,
    ``input_tokens_details.cached_tokens``, ``output_tokens_details.reasoning_tokens``),
    or a whole response (dict or SDK object) that holds one under ``usage``.

    Args:
        usage: The usage mapping, an SDK usage object, or a whole response.
        model: Model name for pricing; when None, the response's ``model`` is used.

    Returns:
        The usage, with its cost when the model has a price.

    Raises:
        TypeError: ``usage`` is not a mapping or a pydantic object.
        ValueError: It has no OpenAI token counts, or a count is not a non-negative integer.
    """
    data = _as_mapping(usage, "OpenAI usage")
    inner = _maybe_mapping(data.get("usage"))
    body = inner if inner is not None else data
    parsed = _openai_usage(body, _model_of(data, model), "OpenAI usage")
    if parsed is None:
        raise ValueError(
            "OpenAI usage has neither prompt_tokens/completion_tokens nor input_tokens/output_tokens; "
            f"got keys {sorted(body)}"
        )
    return parsed


def usage_from_langchain(usage_metadata: Mapping[str, Any] | Any, model: str | None = None) -> TokenUsage:
    """Read LangChain's ``UsageMetadata`` as reported (origin ``"reported"``).

    ``input_tokens`` (cache reads and writes included, as LangChain reports them),
    ``output_tokens`` (reasoning included), ``total_tokens``,
    ``input_token_details.cache_read`` / ``cache_creation`` and
    ``output_token_details.reasoning``. An ``AIMessage`` is accepted too: its
    ``usage_metadata`` is read and its model taken from ``response_metadata``
    (``model_name`` or ``model``) when ``model`` is None.

    Args:
        usage_metadata: The ``UsageMetadata`` mapping, or a message that carries one.
        model: Model name for pricing.

    Returns:
        The usage, with its cost when the model has a price.

    Raises:
        TypeError: The argument is not a mapping nor a message with ``usage_metadata``.
        ValueError: The message has no usage, or a count is not a non-negative integer.
    """
    data: Mapping[str, Any]
    if not isinstance(usage_metadata, Mapping) and hasattr(usage_metadata, "usage_metadata"):
        meta = getattr(usage_metadata, "response_metadata", None)
        if model is None and isinstance(meta, Mapping):
            model = _model_of(meta, None) or None
        if usage_metadata.usage_metadata is None:
            raise ValueError("the message has no usage_metadata (the provider reported no usage)")
        data = _as_mapping(usage_metadata.usage_metadata, "LangChain usage_metadata")
    else:
        data = _as_mapping(usage_metadata, "LangChain usage_metadata")
    what = "LangChain usage_metadata"
    inputs = _details(data, "input_token_details")
    outputs = _details(data, "output_token_details")
    return _reported(
        model or "",
        _count(data, "input_tokens", what),
        _count(data, "output_tokens", what),
        _count(data, "total_tokens", what),
        cached=_count(inputs, "cache_read", what),
        reasoning=_count(outputs, "reasoning", what),
        written=_count(inputs, "cache_creation", what),
    )


def usage_from_llamaindex(raw_or_additional_kwargs: Any, model: str | None = None) -> TokenUsage | None:
    """Read the usage a LlamaIndex LLM reported, or None when it reported none.

    Looks, in order, at: a ``ChatResponse``/``CompletionResponse`` (its ``raw``, then its
    message's ``additional_kwargs``); a raw provider response (dict or SDK object) with
    ``usage`` (OpenAI Chat/Responses, Anthropic) or ``usage_metadata`` (Gemini); and a
    flat mapping of counts such as the ``additional_kwargs`` of llama-index's OpenAI LLM
    (``prompt_tokens``, ``completion_tokens``, ``total_tokens``). Streaming chunks
    without usage give None. Counts are taken as reported (origin ``"reported"``).

    Args:
        raw_or_additional_kwargs: ``ChatResponse.raw``, ``additional_kwargs``, or the response.
        model: Model name for pricing; when None, the raw response's ``model`` is used.

    Returns:
        The usage, or None when nothing holds token counts.

    Raises:
        ValueError: A count is present but not a non-negative integer.
    """
    if raw_or_additional_kwargs is None:
        return None
    if hasattr(raw_or_additional_kwargs, "raw") and not isinstance(raw_or_additional_kwargs, Mapping):
        found = usage_from_llamaindex(raw_or_additional_kwargs.raw, model)
        if found is not None:
            return found
        message = getattr(raw_or_additional_kwargs, "message", None)
        kwargs = getattr(message, "additional_kwargs", None) or getattr(
            raw_or_additional_kwargs, "additional_kwargs", None
        )
        return usage_from_llamaindex(kwargs, model) if kwargs else None
    data = _maybe_mapping(raw_or_additional_kwargs)
    if data is None:
        return None
    name = _model_of(data, model)
    what = "LlamaIndex usage"
    usage = _maybe_mapping(data.get("usage"))
    if usage is not None:
        return _openai_usage(usage, name, what)
    gemini = _maybe_mapping(data.get("usage_metadata"))
    if gemini is not None:
        return _gemini_usage(gemini, name, what)
    return _openai_usage(data, name, what) or _gemini_usage(data, name, what)


# ------------------------------------------------------------------------ roll-ups
class UsageReport(BaseModel):
    """Token usage and cost of a session (or a session tree), broken down several ways.

    Every bucket is a ``TokenSummary`` (tokens, cached/reasoning/cache-write parts, cost
    of the priced events, ``unpriced_tokens``, per-model usage, tokens per origin).
    """

    session_ids: list[str] = Field(default_factory=list)
    """The sessions included, root first (depth-first for a tree)."""
    total: TokenSummary = Field(default_factory=TokenSummary)
    by_model: dict[str, TokenSummary] = Field(default_factory=dict)
    """Keyed by the usage's model name (``"unknown"`` when it has none)."""
    by_source: dict[str, TokenSummary] = Field(default_factory=dict)
    """Keyed by event source (``"user"``, ``"llm"``, ``"system"``, ``"tool"``)."""
    by_run: dict[str, TokenSummary] = Field(default_factory=dict)
    """Keyed by run id (the event's ``task_id``); ``"no_run"`` for events outside a run."""
    by_origin: dict[str, TokenSummary] = Field(default_factory=dict)
    """Keyed by origin: ``"reported"``, ``"counted"``, ``"estimated"``."""
    by_session: dict[str, TokenSummary] = Field(default_factory=dict)
    prices_as_of: str = PRICES_AS_OF
    """Date of the price table the costs come from."""

    @property
    def total_tokens(self) -> int:
        """All tokens recorded."""
        return self.total.total_tokens

    @property
    def total_cost_usd(self) -> float:
        """Estimated USD cost of the priced events."""
        return self.total.total_estimated_cost_usd

    @computed_field  # type: ignore[prop-decorator]
    @property
    def cost_usd(self) -> float | None:
        """Estimated USD cost of the priced events; None when tokens were recorded and none had a price.

        Unlike ``total_cost_usd`` (0.0 then), this never reads "no price known" as "free";
        it is in the report's JSON, next to ``unpriced_tokens``.
        """
        return cost_usd(self.total)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def unpriced_tokens(self) -> int:
        """Tokens whose model had no price (not included in the cost)."""
        return self.total.unpriced_tokens

    @property
    def is_cost_complete(self) -> bool:
        """True when every token had a price."""
        return self.total.unpriced_tokens == 0

    def _add_session(self, session: Session) -> None:
        self.session_ids.append(session.id)
        per_session = self.by_session.setdefault(session.id, TokenSummary())
        for event in session.events:
            usage = event.token_usage
            if usage is None:
                continue
            for bucket in (
                self.total,
                per_session,
                self.by_model.setdefault(usage.model or "unknown", TokenSummary()),
                self.by_source.setdefault(event.source.value, TokenSummary()),
                self.by_run.setdefault(event.task_id or "no_run", TokenSummary()),
                self.by_origin.setdefault(usage.origin, TokenSummary()),
            ):
                bucket.add_usage(usage)


def summarize_session(session: Session) -> UsageReport:
    """Roll up the token usage recorded on one session's events (no I/O).

    Args:
        session: The session, with its events loaded.

    Returns:
        The report (``by_session`` has this one session).
    """
    report = UsageReport()
    report._add_session(session)
    return report


def summarize_tree(session: Session, store: SessionStore | None = None) -> UsageReport:
    """Roll up usage over a session and all its descendants, read from the store.

    The root is taken as given (with its in-memory events); every descendant is read
    from ``store`` (default: the store the session came from, else the configured one),
    depth-first. A missing child is skipped; a cycle is visited once.

    Args:
        session: The root session.
        store: Store to read descendants from.

    Returns:
        The report, with ``by_session`` per session.

    Raises:
        StorageError: The store failed while reading a descendant.
    """
    report = summarize_session(session)
    for child in session.descendants(store):
        report._add_session(child)
    return report


async def asummarize_tree(session: Session, store: SessionStore | None = None) -> UsageReport:
    """Async twin of `summarize_tree`."""
    report = summarize_session(session)
    for child in await session.adescendants(store):
        report._add_session(child)
    return report


# ---------------------------------------------------------------------- formatting
Costed = TokenUsage | TokenSummary | UsageReport
"""Anything with tokens and a cost: one call, a summary, or a report."""


def _summary_of(value: TokenSummary | UsageReport) -> TokenSummary:
    return value.total if isinstance(value, UsageReport) else value


def cost_usd(value: Costed) -> float | None:
    """The cost of what had a price, or None when tokens were recorded and none had one.

    A summary's ``total_estimated_cost_usd`` is 0.0 when no token had a price; this says
    None instead, so "no price known" is never read as "free" (JSON gets ``null``).

    Args:
        value: A usage, a summary or a report.

    Returns:
        USD, or None when nothing in it had a price.
    """
    return _format.cost_usd(_summary_of(value) if isinstance(value, UsageReport) else value)


def format_cost(value: Costed | float | None, *, unpriced_tokens: int = 0) -> str:
    """Format a cost the same way everywhere, saying what had no price.

    - one call without a price (``estimated_cost_usd`` None): ``unpriced``;
    - a summary or report where nothing had a price: ``1,200 unpriced tokens``;
    - a summary or report where part had none: ``$0.0123 + 1,200 unpriced tokens``;
    - otherwise the amount: ``$0.0123``.

    Args:
        value: A ``TokenUsage``, ``TokenSummary`` or ``UsageReport``; or a plain cost in
            USD (None when unknown), with ``unpriced_tokens`` given apart.
        unpriced_tokens: Tokens without a price, for a plain cost (ignored otherwise).

    Returns:
        The text.
    """
    plain = _summary_of(value) if isinstance(value, UsageReport) else value
    return _format.format_cost(plain, unpriced_tokens=unpriced_tokens)


def format_tokens(value: Costed | int, *, estimated_tokens: int = 0) -> str:
    """Format a token count, marking estimated figures with ``~``.

    - exact (reported or counted with the model's tokenizer): ``1,234 tokens``;
    - all estimated: ``~1,234 tokens (estimated)``;
    - partly estimated: ``~1,234 tokens (175 estimated)``.

    Args:
        value: A ``TokenUsage``, ``TokenSummary`` or ``UsageReport``; or a plain count,
            with ``estimated_tokens`` given apart.
        estimated_tokens: How many of a plain count are estimates (ignored otherwise).

    Returns:
        The text.
    """
    plain = _summary_of(value) if isinstance(value, UsageReport) else value
    return _format.format_tokens(plain, estimated_tokens=estimated_tokens)
