"""LangGraph's own checkpointer conformance suite, base and extended capabilities, on every store.

Redis Cluster included (a real 3-node cluster): checkpoints are records on the session's
hash-tagged keys, so each write is one script in one slot.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import ALL_CAPABILITIES

from a2a_session_integrations.langgraph import SessionCheckpointer
from tests.conftest import BACKENDS, CLUSTER
from tests.integrations.langgraph.conftest import NewStore


@pytest.mark.parametrize("kind", [*BACKENDS, CLUSTER])
async def test_passes_langgraph_conformance_on_every_store(kind: str, new_store: NewStore) -> None:
    async def factory() -> AsyncGenerator[SessionCheckpointer, None]:
        # A fresh store per capability suite (a fresh Redis prefix, directory or file).
        store, _ = new_store(kind)
        yield SessionCheckpointer(store)

    registered = checkpointer_test(name=f"SessionCheckpointer[{kind}]")(factory)
    report = await validate(registered)

    failures = {cap: res.failures for cap, res in report.results.items() if res.failures}
    assert failures == {}
    assert {cap for cap, res in report.results.items() if res.detected} == {c.value for c in ALL_CAPABILITIES}
    assert report.passed_all()
