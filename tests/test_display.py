"""The rich display of sessions, runs and token summaries in Jupyter (``_repr_html_``), and short reprs."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from a2a_session_manager import EventSource, RunStatus, Session, SessionEvent, SessionRun
from a2a_session_manager.display import MAX_EVENTS_SHOWN, ROOT_CLASS, STYLESHEET, llm_call_summary, session_html
from a2a_session_manager.messages import make_message_event, make_tool_call_event
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.token_usage import TokenSummary, TokenUsage
from a2a_session_manager.usage import format_usd


class _Tags(HTMLParser):
    """Collects the tags and the visible text of an HTML fragment, to check structure, not substrings."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if not self._in_style:
            self.text.append(data)


def parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser


def visible_text(html: str) -> str:
    return " ".join(" ".join(parse(html).text).split())


def tool_session() -> Session:
    session = Session(id="chat-1", parent_id="root-0")
    session.add_child("child-a")
    session.add_child("child-b")
    session.add_event(make_message_event("system", "You are terse."))
    session.add_event(make_message_event("user", "What is the weather in Paris?"))
    ask = make_message_event(
        "assistant",
        "",
        tool_calls=[{"id": "call-7", "name": "get_weather", "arguments": {"city": "Paris", "unit": "C"}}],
        token_usage=TokenUsage(prompt_tokens=40, completion_tokens=12, model="gpt-4o-mini"),
    )
    session.add_event(ask)
    session.add_event(
        make_tool_call_event(
            "get_weather",
            {"city": "Paris", "unit": "C"},
            "call-7",
            result={"temp_c": 18, "sky": "clear"},
            parent_event_id=ask.id,
            duration_ms=12.5,
        )
    )
    session.add_event(
        make_message_event(
            "assistant",
            "18 °C and clear.",
            token_usage=TokenUsage(prompt_tokens=70, completion_tokens=6, model="some-local-llama"),
        )
    )
    return session


def test_transcript_shows_each_event_with_its_role_and_content_in_order() -> None:
    html = tool_session()._repr_html_()
    assert re.findall(r"<td class='r-([a-z]+)'>", html) == ["system", "user", "assistant", "tool", "assistant"]
    text = visible_text(html)
    positions = [
        text.index(piece)
        for piece in (
            "You are terse.",
            "What is the weather in Paris?",
            "get_weather",
            '"temp_c":18',
            "18 °C and clear.",
        )
    ]
    assert positions == sorted(positions)


def test_tool_calls_are_folded_with_their_arguments_and_results() -> None:
    html = tool_session()._repr_html_()
    tags = parse(html).tags
    # The assistant's request and the tool's execution are each a <details> block (folded by default).
    details = [t for t in tags if t[0] == "details"]
    assert len(details) == 2
    assert all("open" not in attrs for _, attrs in details)
    folded = re.findall(r"<details>(.*?)</details>", html, flags=re.S)
    request, execution = folded
    assert "get_weather" in request and "call-7" in request
    assert "&quot;city&quot;: &quot;Paris&quot;" in request  # the arguments, JSON, escaped
    assert "get_weather" in execution and "result" in execution and "12.5 ms" in execution
    assert "&quot;unit&quot;: &quot;C&quot;" in execution
    assert '"temp_c":18' in visible_text(html)  # the result stays visible without unfolding


def test_a_failed_tool_call_says_error_and_shows_the_error_text() -> None:
    session = Session()
    session.add_event(make_tool_call_event("divide", {"a": 1, "b": 0}, "c1", error="ZeroDivisionError: division"))
    text = visible_text(session._repr_html_())
    assert "divide error" in text
    assert "Error: ZeroDivisionError: division" in text


def test_each_event_shows_its_tokens_and_cost_or_unpriced() -> None:
    text = visible_text(tool_session()._repr_html_())
    priced = TokenUsage(prompt_tokens=40, completion_tokens=12, model="gpt-4o-mini").estimated_cost_usd
    assert priced is not None and priced > 0
    assert f"40+12 tok (reported), {format_usd(priced)}" in text
    assert "70+6 tok (reported), unpriced" in text
    # The header totals the session and says how much of it has no price.
    assert f"128 tokens · {format_usd(priced)} + 76 unpriced tokens" in text


def test_tokens_without_a_price_never_show_as_zero_dollars() -> None:
    session = Session(id="local-only")
    for _ in range(2):
        session.add_event(
            make_message_event(
                "assistant", "hi", token_usage=TokenUsage(prompt_tokens=600, completion_tokens=0, model="my-llama")
            )
        )
    text = visible_text(session._repr_html_())
    assert "1,200 unpriced tokens" in text
    assert "$" not in text
    summary = visible_text(session.token_summary._repr_html_())
    assert "1,200 tokens, 1,200 unpriced tokens" in summary and "$" not in summary


def test_estimated_counts_are_marked_as_estimates() -> None:
    session = Session(id="estimates")
    usage = TokenUsage(prompt_tokens=30, completion_tokens=12, model="my-llama", origin="estimated")
    session.add_event(make_message_event("assistant", "hi", token_usage=usage))
    session.add_event(
        make_message_event("assistant", "yo", token_usage=TokenUsage(prompt_tokens=8, completion_tokens=2))
    )
    text = visible_text(session._repr_html_())
    assert "~30+12 tok (estimated), unpriced" in text
    assert "~52 tokens (42 estimated)" in text
    table = visible_text(session.token_summary._repr_html_())
    assert "my-llama 30 12 ~42 unpriced" in table


def llm_call_event(model: str = "gpt-4o-mini", response: str = "") -> SessionEvent:
    """An LLM call as the LlamaIndex handler records it: a REFERENCE event with an llm_call body."""
    body: dict[str, object] = {"kind": "llm_call", "model": model, "messages": 3, "response": response}
    if not response:
        body["tool_calls"] = [{"id": "c1", "name": "convert", "arguments": {"amount": 200}}]
    return SessionEvent(
        message=body,
        source=EventSource.LLM,
        type=EventType.REFERENCE,
        token_usage=TokenUsage(prompt_tokens=52, completion_tokens=18, model=model, origin="counted"),
    )


def test_llm_call_records_show_as_one_readable_line_not_json() -> None:
    session = Session(id="agent")
    session.add_event(llm_call_event())
    session.add_event(llm_call_event(response="200 EUR is 2300 NOK."))
    html = session._repr_html_()
    text = visible_text(html)
    assert '"kind"' not in text and "llm_call" not in text
    assert 'LLM call · gpt-4o-mini · 3 messages in · calls convert({"amount":200})' in text
    assert 'LLM call · gpt-4o-mini · 3 messages in · replied "200 EUR is 2300 NOK."' in text
    # Tokens and cost are in the usage column of the row.
    assert "52+18 tok (counted)" in text


def test_llm_call_summary_names_model_tokens_and_calls() -> None:
    event = llm_call_event(model="")
    assert event.token_usage is not None
    line = llm_call_summary(event)
    assert line == 'LLM call · model not named · 3 messages in · 70 tokens, unpriced · calls convert({"amount":200})'
    priced = llm_call_summary(llm_call_event(response="x" * 500), width=20)
    assert priced is not None and priced.endswith('replied "' + "x" * 19 + '…"')
    assert llm_call_summary(make_message_event("user", "hi")) is None
    odd = SessionEvent(message={"kind": "llm_call", "tool_calls": "nope"}, type=EventType.REFERENCE)
    assert llm_call_summary(odd) == "LLM call · model not named"


def test_every_style_rule_is_scoped_to_the_views_root_and_sets_alignment_and_background() -> None:
    # The views are embedded in hosts (JupyterLab, classic, VS Code, nbconvert) that style every
    # td/tr/pre of an output: each rule must start with the root class, the root and its content
    # must set alignment, background and colour themselves, and win over the host's selectors.
    html = tool_session()._repr_html_()
    sheets = re.findall(r"<style>(.*?)</style>", html, flags=re.S)
    assert sheets == [STYLESHEET]
    rules = re.findall(r"([^{}]+)\{([^{}]*)\}", STYLESHEET)
    assert rules and "".join(f"{sel}{{{body}}}" for sel, body in rules) == STYLESHEET  # nothing unparsed
    declarations: dict[str, dict[str, str]] = {}
    for selectors, body in rules:
        for selector in selectors.split(","):
            selector = selector.strip()
            assert selector == f".{ROOT_CLASS}" or selector.startswith(f".{ROOT_CLASS} "), selector
            for item in filter(None, body.split(";")):
                prop, _, value = item.partition(":")
                assert value.strip().endswith("!important"), item
                declarations.setdefault(selector, {})[prop.strip()] = value.replace("!important", "").strip()
    for selector in (f".{ROOT_CLASS}", f".{ROOT_CLASS} *"):
        assert declarations[selector]["text-align"] == "left"
        assert declarations[selector]["background"] == "transparent"
        assert declarations[selector]["color"] == "inherit"
    roots = [attrs.get("class") for tag, attrs in parse(html).tags if tag == "div"]
    assert roots == [ROOT_CLASS]


def test_parent_and_children_are_links_to_their_own_views() -> None:
    session = tool_session()
    html = session._repr_html_()
    links = [attrs.get("href") for tag, attrs in parse(html).tags if tag == "a"]
    assert links == ["#a2a-session-root-0", "#a2a-session-child-a", "#a2a-session-child-b"]
    # Each view carries the anchor those links point to, so a parent rendered above is reachable.
    parent_html = Session(id="root-0")._repr_html_()
    assert ("div", "a2a-session-root-0") in [(t, a.get("id")) for t, a in parse(parent_html).tags]
    assert "root" in visible_text(Session(id="lonely")._repr_html_())


def test_many_children_are_listed_briefly_with_their_count() -> None:
    session = Session(id="big-parent")
    for i in range(500):
        session.add_child(f"kid-{i}")
    html = session._repr_html_()
    assert sum(1 for tag, _ in parse(html).tags if tag == "a") == 20
    assert "(500 in all)" in visible_text(html)


def test_html_in_content_is_escaped_never_rendered() -> None:
    session = Session(id="xss")
    session.add_event(SessionEvent(message="<script>alert('pwned')</script><b>bold</b>", source=EventSource.USER))
    session.add_event(
        make_tool_call_event("<img src=x onerror=alert(1)>", {"<k>": "</pre><script>"}, "c-1", result="<i>x</i>")
    )
    session.add_event(make_message_event("user", "hi", name="<evil>"))
    html = session._repr_html_()
    tags = {tag for tag, _ in parse(html).tags}
    assert "script" not in tags and "img" not in tags and "i" not in tags
    assert "evil" not in tags
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "(&lt;evil&gt;)" in html  # the speaker's name, as text
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in html
    assert "<script>alert('pwned')</script>" in visible_text(html)  # shown as text


def test_a_huge_session_renders_a_bounded_page_that_says_what_was_left_out() -> None:
    session = Session(id="huge")
    usage = TokenUsage(prompt_tokens=3, completion_tokens=1, model="gpt-4o-mini")
    for i in range(100_000):
        session.add_event(SessionEvent(message=f"turn {i} " + "x" * 50, source=EventSource.USER, token_usage=usage))
    html = session_html(session)
    small = Session(id="small")
    for i in range(MAX_EVENTS_SHOWN):
        small.add_event(SessionEvent(message=f"turn {i} " + "x" * 50, source=EventSource.USER, token_usage=usage))
    # No bigger than a full page of MAX_EVENTS_SHOWN events (plus the note), whatever the length.
    assert len(html) < len(session_html(small)) + 1_000
    text = visible_text(html)
    assert f"{100_000 - MAX_EVENTS_SHOWN:,} events not shown" in text
    assert "turn 0 " in text and "turn 99999 " in text and "turn 50000 " not in text
    assert "100,000 events" in text and "400,000 tokens" in text  # the header still counts everything


def test_a_huge_message_is_cut_in_the_transcript() -> None:
    session = Session()
    session.add_event(SessionEvent(message="y" * 1_000_000, source=EventSource.USER))
    html = session._repr_html_()
    assert len(html) < 5_000
    assert "y…" in html


def test_plain_repr_stays_short_for_a_huge_session() -> None:
    session = Session(id="huge-repr", parent_id="p")
    for _ in range(10_000):
        session.add_event(SessionEvent(message="z" * 100, source=EventSource.LLM))
    text = repr(session)
    assert len(text) < 200
    assert "events=10000" in text and "'huge-repr'" in text and "'p'" in text
    assert str(session) == text
    assert len(repr(SessionEvent(message="w" * 10_000))) < 200


def test_run_view_shows_id_status_and_times() -> None:
    run = SessionRun()
    run.mark_running()
    running = visible_text(run._repr_html_())
    assert run.id in running and "running" in running and "ended —" in running
    run.mark_failed("boom")
    failed = visible_text(run._repr_html_())
    assert run.status == RunStatus.FAILED and "failed" in failed
    assert run.ended_at is not None and run.ended_at.isoformat(timespec="seconds") in failed


def test_session_header_lists_its_runs_statuses() -> None:
    session = tool_session()
    done, broken = SessionRun(), SessionRun()
    done.mark_completed()
    broken.mark_failed()
    session.runs.extend([done, broken])
    assert "2 runs (completed, failed)" in visible_text(session._repr_html_())


def test_token_summary_view_is_a_table_by_model_with_totals_and_unpriced() -> None:
    summary = TokenSummary()
    summary.add_usage(TokenUsage(prompt_tokens=1000, completion_tokens=200, model="gpt-4o"))
    summary.add_usage(TokenUsage(prompt_tokens=500, completion_tokens=100, model="gpt-4o"))
    summary.add_usage(TokenUsage(prompt_tokens=300, completion_tokens=30, model="<my-local>"))
    html = summary._repr_html_()
    rows = re.findall(r"<tr>(.*?)</tr>", html, flags=re.S)
    header, *body = (visible_text(r) for r in rows)
    assert header == "model prompt completion total cost"
    gpt4o = summary.usage_by_model["gpt-4o"].estimated_cost_usd
    assert gpt4o is not None
    assert body == ["<my-local> 300 30 330 unpriced", f"gpt-4o 1,500 300 1,800 {format_usd(gpt4o)}"]
    text = visible_text(html)
    assert f"2,130 tokens, {format_usd(gpt4o)} + 330 unpriced tokens" in text
    assert "<my-local>" not in {tag for tag, _ in parse(html).tags}
    assert len(repr(summary)) < 200
