"""Sessions, events, runs and a hierarchy on a SQLite store (in a temporary folder).

Run: python examples/session_example.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from a2a_session_manager import (
    EventSource,
    RunStatus,
    Session,
    SessionEvent,
    SessionRun,
    SessionStoreProvider,
    create_sqlite_session_store,
)
from a2a_session_manager.messages import event_text, make_message_event


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = create_sqlite_session_store(path=Path(tmp) / "sessions.db")
        SessionStoreProvider.set_store(store)  # what ancestors()/descendants() read by default

        # A session with a few events, saved once.
        session = Session()
        session.metadata.set_property("user", "ada")
        session.add_event(SessionEvent(message="Plan a weekend in Lisbon", source=EventSource.USER))
        session.add_event(SessionEvent(message="Sure: Alfama on Saturday, Belem on Sunday.", source=EventSource.LLM))
        store.save(session)
        print(f"saved session {session.id} with {len(session.events)} events")

        # Later turns are single appends: the cost does not grow with the session.
        store.append_event(session.id, make_message_event("user", "And where should we eat?"))
        print(f"after one append: {store.count_events(session.id)} events")

        # A run groups the events of one invocation (task_id == run.id).
        run = SessionRun()
        run.mark_running()
        store.upsert_run(session.id, run)
        store.append_event(
            session.id,
            SessionEvent(message="Try the seafood in Cais do Sodre.", source=EventSource.LLM, task_id=run.id),
        )
        run.mark_completed()
        store.upsert_run(session.id, run)
        (stored_run,) = store.get_runs(session.id)
        print(f"run {stored_run.id[:8]}: {stored_run.status.value}")
        assert stored_run.status == RunStatus.COMPLETED

        # Hierarchy: a sub-task session and its own child.
        child = Session(parent_id=session.id)
        child.add_event(SessionEvent(message="Book a table for two", source=EventSource.USER))
        store.save(child)
        grandchild = Session(parent_id=child.id)
        store.save(grandchild)

        loaded = store.get(grandchild.id)
        assert loaded is not None
        print("grandchild's ancestors (nearest first):", [s.id[:8] for s in loaded.ancestors()])
        root = store.get(session.id)
        assert root is not None
        print("root's descendants (depth first):", [s.id[:8] for s in root.descendants()])

        # Windowed reads never load the whole session.
        for event in store.get_events(session.id, last_n=2):
            print(f"  #{event.seq} {event.source.value}: {event_text(event)}")
        print("sessions in the store:", len(store.list_sessions()))
        store.close()
        SessionStoreProvider.reset()


if __name__ == "__main__":
    main()
