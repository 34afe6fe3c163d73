"""Models refuse bad input with typed errors that name the field, and change nothing."""

from __future__ import annotations

import math
from typing import Any

import pytest
from a2a_session_manager import EventSource, Session, SessionEvent, SessionRun, TokenUsage
from a2a_session_manager.exceptions import InvalidDataError, SessionManagerError
from pydantic import ValidationError


def test_invalid_data_error_is_a_library_error_and_both_builtins_callers_catch() -> None:
    assert issubclass(InvalidDataError, SessionManagerError)
    assert issubclass(InvalidDataError, ValueError)
    assert issubclass(InvalidDataError, TypeError)
    error = InvalidDataError("session 's': cannot store ...", session_id="s")
    assert error.session_id == "s"


@pytest.mark.parametrize("bad", ["hello", {"message": "x"}, None, 3, SessionRun()], ids=lambda v: type(v).__name__)
def test_add_event_refuses_a_non_event_and_leaves_the_session_unchanged(bad: Any) -> None:
    session = Session(id="s")
    session.add_event(SessionEvent(message="kept", token_usage=TokenUsage(prompt_tokens=3, model="gpt-4o")))
    before = session.model_dump_json()

    with pytest.raises(InvalidDataError, match=f"add_event\\(\\) takes a SessionEvent, not {type(bad).__name__}"):
        session.add_event(bad)

    assert session.model_dump_json() == before
    assert session.total_tokens == 3


@pytest.mark.parametrize("model", [5, None, 1.5, ["gpt-4o"]], ids=repr)
def test_create_with_tokens_refuses_a_model_name_that_is_not_text(model: Any) -> None:
    with pytest.raises(InvalidDataError, match=f"model must be a str.*not {type(model).__name__}"):
        SessionEvent.create_with_tokens("hi", "prompt", "completion", model=model)
    with pytest.raises(InvalidDataError, match="model must be a str"):
        TokenUsage.from_text("prompt", "completion", model=model)


@pytest.mark.parametrize(("field", "value"), [("prompt", 5), ("completion", b"bytes")])
def test_create_with_tokens_refuses_texts_that_are_not_text(field: str, value: Any) -> None:
    texts: dict[str, Any] = {"prompt": "p", "completion": "c", field: value}
    with pytest.raises(InvalidDataError, match=f"{field} must be a str or None"):
        SessionEvent.create_with_tokens("hi", texts["prompt"], texts["completion"], model="gpt-4o")


def test_token_usage_refuses_a_model_name_that_is_not_text_naming_the_field() -> None:
    # A model constructor refuses like every pydantic model: a ValueError naming the field.
    with pytest.raises(ValueError, match="model") as caught:
        TokenUsage(prompt_tokens=1, model=5)
    assert isinstance(caught.value, ValidationError)
    event = SessionEvent(message="x")
    with pytest.raises(ValueError, match="model"):
        event.update_token_usage(prompt_tokens=1, model=5)  # type: ignore[arg-type]
    assert event.token_usage is None


def test_lone_surrogates_in_texts_to_count_do_not_break_token_counting() -> None:
    usage = TokenUsage.from_text("a\ud800b", "\udfff", model="gpt-4o")
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens > 0


def test_models_write_nan_and_infinities_as_json_constants_not_null() -> None:
    event = SessionEvent(message={"x": math.nan}, metadata={"y": math.inf}, source=EventSource.USER)
    text = event.model_dump_json()
    assert '"x":NaN' in text
    assert '"y":Infinity' in text
    back = SessionEvent.model_validate_json(text)
    assert math.isnan(back.message["x"])
    assert back.metadata == {"y": math.inf}
    run = SessionRun(metadata={"loss": -math.inf})
    assert '"loss":-Infinity' in run.model_dump_json()
    session = Session(state={"z": math.nan})
    session.metadata.set_property("p", math.inf)
    assert '"z":NaN' in session.model_dump_json()
    assert '"p":Infinity' in session.model_dump_json()
    assert session.metadata.model_dump(mode="json")["properties"] == {"p": math.inf}
