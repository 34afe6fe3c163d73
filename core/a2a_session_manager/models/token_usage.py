"""Token usage of one model call, and summaries over many."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from a2a_session_manager import pricing, tokens
from a2a_session_manager.exceptions import InvalidDataError
from a2a_session_manager.tokens import TokenOrigin

__all__ = ["TokenOrigin", "TokenSummary", "TokenUsage"]

_ORIGIN_RANK = {"reported": 0, "counted": 1, "estimated": 2}


class TokenUsage(BaseModel):
    """Tokens used by one model call, with their origin and estimated cost.

    ``origin`` says where the figures come from: ``"reported"`` by the provider,
    ``"counted"`` with the model's tokenizer, or ``"estimated"`` without one.
    ``estimated_cost_usd`` is None when the model has no known price.
    """

    # Stored inside events: NaN stays NaN in JSON, as in SessionEvent.
    model_config = ConfigDict(ser_json_inf_nan="constants")

    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    total_tokens: int = Field(default=0, ge=0)
    model: str = ""
    estimated_cost_usd: float | None = None
    origin: TokenOrigin = "reported"
    cached_prompt_tokens: int = Field(default=0, ge=0)
    reasoning_tokens: int = Field(default=0, ge=0)
    cache_write_tokens: int = Field(default=0, ge=0)
    """Part of ``prompt_tokens`` written to the vendor's prompt cache (Anthropic's cache creation)."""

    @model_validator(mode="after")
    def _fill_totals(self) -> TokenUsage:
        if self.total_tokens == 0:
            self.total_tokens = self.prompt_tokens + self.completion_tokens
        if self.estimated_cost_usd is None and self.model:
            self.estimated_cost_usd = self._cost()
        return self

    def _cost(self) -> float | None:
        return pricing.estimate_cost_usd(
            self.model,
            self.prompt_tokens,
            self.completion_tokens,
            cached_prompt_tokens=self.cached_prompt_tokens,
            reasoning_tokens=self.reasoning_tokens,
            cache_write_tokens=self.cache_write_tokens,
        )

    def calculate_cost(self) -> float | None:
        """Recompute ``estimated_cost_usd`` from the price table.

        Returns:
            The cost in USD, or None when the model has no price.
        """
        self.estimated_cost_usd = self._cost()
        return self.estimated_cost_usd

    def update(self, prompt_tokens: int = 0, completion_tokens: int = 0) -> None:
        """Add tokens to this usage and recompute the total and cost.

        Args:
            prompt_tokens: Input tokens to add.
            completion_tokens: Output tokens to add.
        """
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        self.total_tokens = self.prompt_tokens + self.completion_tokens
        self.estimated_cost_usd = self._cost()

    @staticmethod
    def count_tokens(text: str | None, model: str = "gpt-3.5-turbo") -> int:
        """Count the tokens of ``text`` with ``model``'s tokenizer.

        Args:
            text: The text (None counts as 0).
            model: Model name.

        Returns:
            The number of tokens.
        """
        return tokens.count_text_tokens(text, model).tokens

    @classmethod
    def from_text(cls, prompt: str | None, completion: str | None = None, model: str = "gpt-3.5-turbo") -> TokenUsage:
        """Count the prompt and completion texts with ``model``'s tokenizer.

        Args:
            prompt: Input text.
            completion: Output text.
            model: Model name, selecting tokenizer and price.

        Returns:
            A usage flagged ``"counted"`` (exact) or ``"estimated"`` (no tokenizer).

        Raises:
            InvalidDataError: ``model`` is not a str, or a text is neither a str nor None.
        """
        if not isinstance(model, str):
            raise InvalidDataError(f"model must be a str (a model name), not {type(model).__name__}")
        for name, text in (("prompt", prompt), ("completion", completion)):
            if text is not None and not isinstance(text, str):
                raise InvalidDataError(f"{name} must be a str or None, not {type(text).__name__}")
        p = tokens.count_text_tokens(prompt, model)
        c = tokens.count_text_tokens(completion, model)
        estimated = "estimated" in (p.origin, c.origin) and bool(prompt or completion)
        origin: TokenOrigin = "estimated" if estimated else "counted"
        return cls(prompt_tokens=p.tokens, completion_tokens=c.tokens, model=model, origin=origin)

    def __add__(self, other: TokenUsage) -> TokenUsage:
        if not isinstance(other, TokenUsage):
            return NotImplemented
        model = self.model if self.model == other.model or not other.model else (self.model or other.model)
        origin = max(self.origin, other.origin, key=lambda o: _ORIGIN_RANK[o])
        costs = [
            u.estimated_cost_usd if u.estimated_cost_usd is not None or u.total_tokens else 0.0 for u in (self, other)
        ]
        total = TokenUsage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_prompt_tokens=self.cached_prompt_tokens + other.cached_prompt_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            model=model,
            origin=origin,
        )
        # Set after validation, which would otherwise price every token at the kept model's
        # rate: a sum with an unpriced part has no price (an empty usage costs nothing).
        total.estimated_cost_usd = None if None in costs else round(sum(c or 0.0 for c in costs), 9)
        return total


class TokenSummary(BaseModel):
    """Totals over many usages: by model and origin, with the cost of what had a price.

    ``unpriced_tokens`` counts the tokens whose model had no price, so a total cost is
    never mistaken for complete when it is not.
    """

    total_prompt_tokens: int = 0
    total_completion_tokens: int = 0
    total_tokens: int = 0
    total_cached_prompt_tokens: int = 0
    total_reasoning_tokens: int = 0
    total_cache_write_tokens: int = 0
    total_estimated_cost_usd: float = 0.0
    unpriced_tokens: int = 0
    usage_by_model: dict[str, TokenUsage] = Field(default_factory=dict)
    tokens_by_origin: dict[str, int] = Field(default_factory=dict)
    call_count: int = 0

    def add_usage(self, usage: TokenUsage) -> None:
        """Add one usage to the totals.

        Args:
            usage: The usage to add.
        """
        self.call_count += 1
        self.total_prompt_tokens += usage.prompt_tokens
        self.total_completion_tokens += usage.completion_tokens
        self.total_tokens += usage.total_tokens
        self.total_cached_prompt_tokens += usage.cached_prompt_tokens
        self.total_reasoning_tokens += usage.reasoning_tokens
        self.total_cache_write_tokens += usage.cache_write_tokens
        self.tokens_by_origin[usage.origin] = self.tokens_by_origin.get(usage.origin, 0) + usage.total_tokens
        if usage.estimated_cost_usd is None:
            self.unpriced_tokens += usage.total_tokens
        else:
            self.total_estimated_cost_usd = round(self.total_estimated_cost_usd + usage.estimated_cost_usd, 9)
        key = usage.model or "unknown"
        current = self.usage_by_model.get(key)
        self.usage_by_model[key] = usage.model_copy() if current is None else current + usage

    def merge(self, other: TokenSummary) -> None:
        """Add another summary's totals to this one (used for roll-ups over a session tree).

        Args:
            other: The summary to add.
        """
        self.call_count += other.call_count
        self.total_prompt_tokens += other.total_prompt_tokens
        self.total_completion_tokens += other.total_completion_tokens
        self.total_tokens += other.total_tokens
        self.total_cached_prompt_tokens += other.total_cached_prompt_tokens
        self.total_reasoning_tokens += other.total_reasoning_tokens
        self.total_cache_write_tokens += other.total_cache_write_tokens
        self.unpriced_tokens += other.unpriced_tokens
        self.total_estimated_cost_usd = round(self.total_estimated_cost_usd + other.total_estimated_cost_usd, 9)
        for origin, n in other.tokens_by_origin.items():
            self.tokens_by_origin[origin] = self.tokens_by_origin.get(origin, 0) + n
        for model, usage in other.usage_by_model.items():
            current = self.usage_by_model.get(model)
            self.usage_by_model[model] = usage.model_copy() if current is None else current + usage

    def _repr_html_(self) -> str:
        from a2a_session_manager.models._html import summary_html

        return summary_html(self)

    def __repr__(self) -> str:
        return (
            f"TokenSummary(total_tokens={self.total_tokens}, "
            f"cost_usd={self.total_estimated_cost_usd:.6f}, unpriced_tokens={self.unpriced_tokens}, "
            f"models={sorted(self.usage_by_model)})"
        )
