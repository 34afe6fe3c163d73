"""Token counts and costs: counted, reported, unpriced, and a roll-up over a session tree.

Run: python examples/token_tracking_example.py
"""

from __future__ import annotations

from a2a_session_manager import (
    EventSource,
    InMemorySessionStore,
    Session,
    SessionEvent,
    SessionRun,
    register_model_pricing,
)
from a2a_session_manager.usage import format_cost, summarize_tree, usage_from_openai


def show(label: str, event: SessionEvent) -> None:
    usage = event.token_usage
    assert usage is not None
    cost = format_cost(usage)
    print(
        f"{label:<34} prompt={usage.prompt_tokens:>3} completion={usage.completion_tokens:>3} "
        f"origin={usage.origin:<9} cost={cost}"
    )


def main() -> None:
    store = InMemorySessionStore()
    question = "Explain quantum computing in simple terms."
    answer = "Quantum computers use qubits, which can hold 0 and 1 at once, to explore many answers together."

    session = Session()
    session.add_event(SessionEvent(message=question, source=EventSource.USER))

    # Counted with the model's own tokenizer (tiktoken, offline).
    counted = SessionEvent.create_with_tokens(answer, prompt=question, completion=answer, model="gpt-4o")
    session.add_event(counted)
    show("gpt-4o, counted locally:", counted)

    # Reported by the provider (an OpenAI response's `usage`), kept as reported.
    run = SessionRun()
    session.runs.append(run)
    reported = SessionEvent(
        message="Second answer",
        source=EventSource.LLM,
        task_id=run.id,
        token_usage=usage_from_openai(
            {"prompt_tokens": 1200, "completion_tokens": 80, "prompt_tokens_details": {"cached_tokens": 1024}},
            model="gpt-4o-mini",
        ),
    )
    session.add_event(reported)
    show("gpt-4o-mini, reported by provider:", reported)

    # A model with no known price: the cost is None, never a guess.
    local = SessionEvent.create_with_tokens("ok", prompt=question, completion="ok", model="some-local-llama")
    session.add_event(local)
    show("some-local-llama, unknown price:", local)
    store.save(session)

    # A sub-agent's session under it, on a model whose price we register ourselves.
    register_model_pricing("my-finetune", input_per_mtok=0.5, output_per_mtok=1.5)
    child = Session(parent_id=session.id)
    child_event = SessionEvent.create_with_tokens(
        "done", prompt="sub task " * 50, completion="done", model="my-finetune"
    )
    child.add_event(child_event)
    store.save(child)
    show("my-finetune, registered price:", child_event)

    print(f"\nsession total: {session.total_tokens} tokens, {format_cost(session.token_summary)}")
    print(f"tokens without a price: {session.token_summary.unpriced_tokens}")

    report = summarize_tree(session, store)
    print(f"\nroll-up over {len(report.session_ids)} sessions (prices as of {report.prices_as_of}):")
    print(f"  total {report.total_tokens} tokens, {format_cost(report)}, complete={report.is_cost_complete}")
    for model, summary in sorted(report.by_model.items()):
        print(f"  by model  {model:<18} {summary.total_tokens:>5} tokens  {format_cost(summary)}")
    for origin, summary in sorted(report.by_origin.items()):
        print(f"  by origin {origin:<18} {summary.total_tokens:>5} tokens")
    for run_id, summary in sorted(report.by_run.items()):
        print(f"  by run    {run_id[:18]:<18} {summary.total_tokens:>5} tokens")


if __name__ == "__main__":
    main()
