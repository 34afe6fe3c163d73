"""``models.neutral.view``: every event shape parsed once into a typed ``Turn``, cached on the event."""

from __future__ import annotations

import copy

from a2a_session_manager.messages import event_to_openai, event_token_count
from a2a_session_manager.models.event_source import EventSource
from a2a_session_manager.models.event_type import EventType
from a2a_session_manager.models.neutral import (
    ToolCall,
    Turn,
    event_role,
    event_text,
    event_tool_calls,
    unknown_part,
    view,
)
from a2a_session_manager.models.session_event import SessionEvent
from a2a_session_manager.tokens import count_message_tokens


def test_str_message_takes_its_role_from_the_source_and_is_its_own_content() -> None:
    turn = view(SessionEvent(message="hello", source=EventSource.USER))
    assert turn == Turn(EventType.MESSAGE, "user", "hello", "hello")
    assert not turn.is_structured and turn.tool_calls == () and turn.name is None


def test_none_message_has_empty_text_and_no_content() -> None:
    turn = view(SessionEvent(message=None, source=EventSource.LLM))
    assert (turn.role, turn.text, turn.content) == ("assistant", "", None)


def test_dict_message_with_parts_keeps_them_and_texts_non_text_parts_as_placeholders() -> None:
    parts = [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "https://example.invalid/a.png"}},
    ]
    event = SessionEvent(message={"role": "human", "content": parts, "name": "ann"}, source=EventSource.USER)
    turn = view(event)
    assert turn.role == "user"  # the alias is mapped
    assert turn.content is parts
    assert turn.text == "look\n[image]"
    assert turn.name == "ann"
    assert turn.is_structured


def test_unknown_part_reads_as_its_placeholder() -> None:
    block = {"type": "image", "base64": "AAAA"}
    event = SessionEvent(message={"role": "user", "content": [unknown_part(block)]})
    turn = view(event)
    assert turn.text == "[image]"
    assert turn.content == [unknown_part(block)]


def test_non_text_content_value_becomes_its_json_text() -> None:
    turn = view(SessionEvent(message={"role": "user", "content": {"a": 1}}))
    assert turn.content == '{"a":1}' == turn.text


def test_dict_without_content_has_no_content_and_its_json_as_text() -> None:
    turn = view(SessionEvent(message={"role": "assistant"}))
    assert turn.content is None
    assert turn.text == '{"role":"assistant"}'


def test_tool_calls_in_the_neutral_and_in_openais_shape_are_typed_calls() -> None:
    event = SessionEvent(
        message={
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "c1", "name": "add", "arguments": {"a": 1}},
                {"id": "c2", "type": "function", "function": {"name": "mul", "arguments": '{"b": 2}'}},
                {"id": "c3", "function": {"name": "raw", "arguments": "not json"}},
                {"name": "no_args", "arguments": "x"},
                "not a call",
            ],
        }
    )
    assert view(event).tool_calls == (
        ToolCall("c1", "add", {"a": 1}),
        ToolCall("c2", "mul", {"b": 2}),
        ToolCall("c3", "raw", {"__raw__": "not json"}),
        ToolCall("", "no_args", {}),
    )
    assert event_tool_calls(event)[1] == {"id": "c2", "name": "mul", "arguments": {"b": 2}}


def test_event_tool_calls_returns_new_dicts_each_time() -> None:
    event = SessionEvent(message={"role": "assistant", "content": "", "tool_calls": [{"id": "c", "name": "f"}]})
    first = event_tool_calls(event)
    first[0]["name"] = "changed"
    assert event_tool_calls(event)[0]["name"] == "f"


def test_tool_message_carries_its_call_id() -> None:
    turn = view(SessionEvent(message={"role": "tool", "content": "4", "tool_call_id": "c1"}, source=EventSource.TOOL))
    assert (turn.role, turn.tool_call_id, turn.text) == ("tool", "c1", "4")


def test_tool_call_with_result() -> None:
    event = SessionEvent(
        type=EventType.TOOL_CALL,
        source=EventSource.TOOL,
        message={"name": "add", "arguments": {"a": 1}, "result": {"sum": 3}, "tool_call_id": "c1", "duration_ms": 2},
    )
    turn = view(event)
    assert turn.role == "tool"
    assert turn.text == '{"sum":3}' == turn.content
    assert (turn.tool_call_id, turn.name, turn.is_error) == ("c1", "add", False)
    assert turn.result == {"sum": 3}
    assert turn.arguments == {"a": 1}
    assert turn.duration_ms == 2.0
    assert turn.tool_calls == ()


def test_tool_call_with_error() -> None:
    event = SessionEvent(
        type=EventType.TOOL_CALL,
        source=EventSource.TOOL,
        message={"name": "div", "arguments": {}, "error": "division by zero", "tool_call_id": "c2"},
    )
    turn = view(event)
    assert turn.is_error
    assert turn.text == "Error: division by zero"
    assert turn.result is None


def test_legacy_tool_call_without_id_names_its_tool_from_tool_name() -> None:
    event = SessionEvent(type=EventType.TOOL_CALL, message={"tool_name": "search", "result": "ok"})
    turn = view(event)
    assert (turn.tool_call_id, turn.name, turn.text, turn.arguments) == (None, "search", "ok", {})


def test_summary_and_context_bridge_are_system_text() -> None:
    for kind in (EventType.SUMMARY, EventType.CONTEXT_BRIDGE):
        turn = view(SessionEvent(type=kind, message="so far: x", source=EventSource.SYSTEM))
        assert (turn.kind, turn.role, turn.text, turn.content) == (kind, "system", "so far: x", "so far: x")


def test_reference_has_no_role() -> None:
    event = SessionEvent(type=EventType.REFERENCE, message={"kind": "llm_call", "model": "m"})
    turn = view(event)
    assert turn.role is None
    assert event_role(event) is None
    assert turn.text == '{"kind":"llm_call","model":"m"}'


def test_unknown_part_kinds_and_plain_strings_in_content_read_as_text() -> None:
    parts = ["bare", {"type": "mystery", "x": 1}, {"text": "untyped"}]
    turn = view(SessionEvent(message={"role": "user", "content": parts}))
    assert turn.text == 'bare\n{"type":"mystery","x":1}\nuntyped'


def test_view_works_on_an_event_built_without_validation() -> None:
    event = SessionEvent.model_construct(message={"role": "user", "content": "x"})
    assert view(event).text == "x"


def test_view_is_computed_once_and_cached() -> None:
    event = SessionEvent(message="hi")
    assert view(event) is view(event)


def test_reassigning_the_message_invalidates_the_cached_view() -> None:
    event = SessionEvent(message="old", source=EventSource.USER)
    assert event_text(event) == "old"
    event.message = {"role": "assistant", "content": "new"}
    assert event_text(event) == "new"
    assert event_role(event) == "assistant"


def test_reassigning_type_or_source_invalidates_the_cached_view() -> None:
    event = SessionEvent(message="x", source=EventSource.USER)
    assert event_role(event) == "user"
    event.source = EventSource.SYSTEM
    assert event_role(event) == "system"
    event.type = EventType.REFERENCE
    assert event_role(event) is None


def test_viewing_an_event_keeps_it_equal_to_an_unviewed_copy() -> None:
    event = SessionEvent(message={"role": "user", "content": "x"})
    twin = event.model_copy(deep=True)
    view(event)
    assert event == twin
    assert twin == event


def test_the_view_is_never_serialized_and_survives_copies() -> None:
    event = SessionEvent(message={"role": "user", "content": "x"})
    view(event)
    assert "_view" not in event.model_dump_json()
    assert SessionEvent.model_validate_json(event.model_dump_json()) == event
    assert view(copy.deepcopy(event)).text == "x"
    shallow = event.model_copy(update={"message": "y"})
    assert view(shallow).text == "y"


def test_counting_tokens_keeps_an_event_equal_to_an_uncounted_copy() -> None:
    event = SessionEvent(message={"role": "user", "content": "how many tokens is this"})
    twin = event.model_copy(deep=True)
    event_token_count(event, "gpt-4o")
    event_token_count(event, "gpt-3.5-turbo")
    assert event == twin
    assert twin == event


def test_token_counts_are_cached_per_encoding_and_dropped_with_a_new_message() -> None:
    event = SessionEvent(message={"role": "user", "content": "hello there"})
    fresh = SessionEvent(message={"role": "user", "content": "hello there"})
    rendered = event_to_openai(fresh)
    assert rendered is not None
    # Two encodings (o200k for gpt-4o, cl100k for gpt-3.5-turbo) kept side by side.
    assert event_token_count(event, "gpt-4o") == count_message_tokens(rendered, "gpt-4o")
    assert event_token_count(event, "gpt-3.5-turbo") == event_token_count(fresh, "gpt-3.5-turbo")
    assert event_token_count(event, "gpt-4o") == event_token_count(fresh, "gpt-4o")
    event.message = {"role": "user", "content": "hello there " * 20}
    longer = SessionEvent(message=event.message)
    assert event_token_count(event, "gpt-4o") == event_token_count(longer, "gpt-4o")
    assert event_token_count(event, "gpt-3.5-turbo") == event_token_count(longer, "gpt-3.5-turbo")
    assert event_token_count(event, "gpt-4o") > event_token_count(fresh, "gpt-4o")
