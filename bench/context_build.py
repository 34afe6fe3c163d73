"""Benchmark: build a 4,000-token context from a long history (W4 of anchor-bench.md).

Histories of N = 10,000 and 100,000 alternating user/assistant events, each a
deterministic English-like message of about 330 characters, already in memory. Each
builder must return the newest messages that fit 4,000 tokens (cl100k_base, the
tokenizer of ``gpt-4-turbo``):

* ``ours.cold``: ``build_prompt_from_session(session, CONVERSATION, max_tokens=4000)`` on
  a fresh copy of the events (no token count cached yet: the first build of a session
  loaded from a store);
* ``ours.warm``: the same call again (per-event counts cached on the events);
* ``ours.select``: ``select_events`` alone (what the LangChain/LlamaIndex adapters call), warm;
* ``floor``: walk newest-first, tiktoken-encode each message until 4,000 (no framework,
  no validity rules): the lower bound;
* ``lc.trim_messages``: LangChain ``trim_messages(strategy="last", max_tokens=4000)``
  with a token counter built on our ``count_messages_tokens`` (OpenAI chat rule, as the
  LangChain docs' tiktoken counter);
* ``li.chat_memory_buffer``: LlamaIndex ``ChatMemoryBuffer.get()`` with
  ``token_limit=4000`` (its default tokenizer, cl100k_base). It re-tokenizes the whole
  remaining buffer for every message it drops, so it is quadratic: it runs only at
  N = 1,000 and 2,000 and its larger figures are extrapolated with T ∝ N^k (k fitted
  on those two), marked ``~``.

Times are the median of several runs (one run for the slowest cases). Frameworks that
are not installed are skipped with a note.

Run: ``python bench/context_build.py`` (``--quick`` for a smoke run: N = 1,000 and 2,000,
LlamaIndex capped at 200 and 400).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

from a2a_session_manager import EventSource, Session, SessionEvent
from a2a_session_manager.prompts import PromptStrategy, build_prompt_from_session, select_events
from a2a_session_manager.tokens import choose_encoding, count_messages_tokens, get_encoding

MODEL = "gpt-4-turbo"
BUDGET = 4_000
_WORDS_TEXT = (
    "time person year way day thing man world life hand part child eye woman place work week case point "
    "government company number group problem fact be have do say get make go know take see come think "
    "look want give use find tell ask seem feel try leave call good new first last long great little own "
    "other old right big high different small large next early young important few public bad same able "
    "to of in for on with at by from up about into over after the and a that it not he as you this but "
    "his they her she"
)
WORDS = _WORDS_TEXT.split()


def message_text(i: int) -> str:
    """A deterministic English-like message of about 330 characters."""
    out: list[str] = []
    k = i * 2654435761 % 1_000_003
    length = 0
    while length < 330:
        k = (k * 1103515245 + 12345) % 2_147_483_648
        word = WORDS[k % len(WORDS)]
        out.append(word)
        length += len(word) + 1
    text = " ".join(out)
    return text[0].upper() + text[1:] + "."


def history(n: int) -> list[tuple[str, str]]:
    return [("user" if i % 2 == 0 else "assistant", message_text(i)) for i in range(n)]


def make_session(items: list[tuple[str, str]]) -> Session:
    events = [
        SessionEvent(message=text, source=EventSource.USER if role == "user" else EventSource.LLM)
        for role, text in items
    ]
    return Session(events=events)


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    times = []
    result = None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def floor(items: list[tuple[str, str]]) -> list[dict[str, str]]:
    encoding = get_encoding(choose_encoding(MODEL).name)
    assert encoding is not None, "the floor needs tiktoken"
    used = 3
    kept: list[dict[str, str]] = []
    for role, text in reversed(items):
        cost = 3 + len(encoding.encode_ordinary(role)) + len(encoding.encode_ordinary(text))
        if used + cost > BUDGET:
            break
        used += cost
        kept.append({"role": role, "content": text})
    kept.reverse()
    return kept


def bench_ours(n: int, items: list[tuple[str, str]], rows: dict[str, dict[int, str]]) -> None:
    runs = 7
    colds = []
    prompt: list[dict[str, Any]] = []
    for _ in range(runs):
        session = make_session(items)  # fresh events: nothing cached
        t0 = time.perf_counter()
        prompt = build_prompt_from_session(session, PromptStrategy.CONVERSATION, max_tokens=BUDGET, model=MODEL)
        colds.append(time.perf_counter() - t0)
    warm, prompt = timed(
        lambda: build_prompt_from_session(session, PromptStrategy.CONVERSATION, max_tokens=BUDGET, model=MODEL), 21
    )
    select, _ = timed(lambda: select_events(session.events, max_tokens=BUDGET, model=MODEL), 21)
    tokens = count_messages_tokens(prompt, MODEL)
    assert tokens <= BUDGET
    note = f" ({len(prompt)} msgs / {tokens} tok)"
    rows.setdefault("ours.cold", {})[n] = fmt(statistics.median(colds)) + note
    rows.setdefault("ours.warm", {})[n] = fmt(warm)
    rows.setdefault("ours.select", {})[n] = fmt(select)
    t_floor, kept = timed(lambda: floor(items), 7)
    rows.setdefault("floor", {})[n] = fmt(t_floor) + f" ({len(kept)} msgs / {count_messages_tokens(kept, MODEL)} tok)"


def bench_langchain(n: int, items: list[tuple[str, str]], rows: dict[str, dict[int, str]]) -> None:
    try:
        from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, trim_messages
    except ImportError:
        rows.setdefault("lc.trim_messages", {})[n] = "skipped (langchain-core not installed)"
        return
    messages: list[BaseMessage] = [
        HumanMessage(content=text) if role == "user" else AIMessage(content=text) for role, text in items
    ]

    def counter(msgs: list[BaseMessage]) -> int:
        return count_messages_tokens(
            [{"role": "user" if m.type == "human" else "assistant", "content": str(m.content)} for m in msgs], MODEL
        )

    runs = 3 if n <= 10_000 else 1
    t, kept = timed(lambda: trim_messages(messages, max_tokens=BUDGET, token_counter=counter, strategy="last"), runs)
    rows.setdefault("lc.trim_messages", {})[n] = fmt(t) + f" ({len(kept)} msgs / {counter(kept)} tok)"


def bench_llamaindex(sizes: list[int], caps: tuple[int, int], rows: dict[str, dict[int, str]]) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from llama_index.core.base.llms.types import ChatMessage, MessageRole
            from llama_index.core.memory import ChatMemoryBuffer
    except ImportError:
        for n in sizes:
            rows.setdefault("li.chat_memory_buffer", {})[n] = "skipped (llama-index-core not installed)"
        return
    measured: dict[int, float] = {}
    for n in caps:
        items = history(n)
        chat = [
            ChatMessage(role=MessageRole.USER if role == "user" else MessageRole.ASSISTANT, content=text)
            for role, text in items
        ]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            memory = ChatMemoryBuffer.from_defaults(chat_history=chat, token_limit=BUDGET)
            t, kept = timed(memory.get, 1)
        measured[n] = t
        rows.setdefault("li.chat_memory_buffer", {})[n] = fmt(t) + f" ({len(kept)} msgs)"
    (n1, t1), (n2, t2) = sorted(measured.items())
    k = math.log(t2 / t1) / math.log(n2 / n1)
    for n in sizes:
        if n not in measured:
            rows["li.chat_memory_buffer"][n] = "~" + fmt(t2 * (n / n2) ** k) + f" (T ∝ N^{k:.2f})"


def fmt(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1000:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run with small histories")
    args = parser.parse_args()
    sizes = [1_000, 2_000] if args.quick else [10_000, 100_000]
    caps = (200, 400) if args.quick else (1_000, 2_000)
    rows: dict[str, dict[int, str]] = {}
    for n in sizes:
        items = history(n)
        bench_ours(n, items, rows)
        bench_langchain(n, items, rows)
    bench_llamaindex(sizes, caps, rows)
    columns = sorted({n for row in rows.values() for n in row})
    print(f"Build a {BUDGET}-token context ({MODEL}, cl100k_base), history already in memory")
    print("| builder | " + " | ".join(f"N={n:,}" for n in columns) + " |")
    print("|---|" + "---|" * len(columns))
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(row.get(n, "") for n in columns) + " |")


if __name__ == "__main__":
    main()
