"""The conversation events published from the outbox: CloudEvents JSON around the details."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from router.conversations.history import _cloud_event

OCCURRED = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


def _change(**fields: object) -> dict[str, object]:
    """A journal row of a system change, with `fields` over the defaults."""
    return {
        "conversation_id": uuid.uuid4(),
        "kind": "queued",
        "actor_kind": "system",
        "actor_id": None,
        "agent_id": None,
        "queue_id": None,
        "reason": "policy v1: rule default",
        "occurred_at": OCCURRED,
        **fields,
    }


@given(reason=st.text(), actor=st.one_of(st.none(), st.text()))
def test_cloud_event_is_valid_json_with_the_change(reason: str, actor: str | None) -> None:
    conversation, agent = uuid.uuid4(), uuid.uuid4()
    row = _change(
        conversation_id=conversation, kind="offered", actor_id=actor, agent_id=agent, reason=reason
    )
    event = json.loads(_cloud_event(row, '{"rule":"vip"}'))
    assert event["type"] == "router.conversation.offered"
    assert event["subject"] == str(conversation)
    assert event["data"] == {
        "conversation_id": str(conversation),
        "change": "offered",
        "actor": {"kind": "system", "id": actor},
        "agent_id": str(agent),
        "queue_id": None,
        "reason": reason,
        "details": {"rule": "vip"},
        "occurred_at": OCCURRED.isoformat(),
    }


def test_text_the_fast_encoder_refuses_is_still_published() -> None:
    # A lone surrogate, as a JSON escape in a queue's name can make one.
    row = _change(reason="queue a\ud800b")
    event = json.loads(_cloud_event(row, '{"rule":"vip"}'))
    assert event["data"]["reason"] == "queue a\ud800b"
    assert event["data"]["details"] == {"rule": "vip"}
    assert event["time"] == "2026-11-22T09:30:00+00:00"


def test_ids_read_from_the_database_are_written_as_text() -> None:
    from asyncpg.pgproto.pgproto import UUID as DriverUUID  # what asyncpg returns for uuid

    queue = DriverUUID(str(uuid.uuid4()))
    written = _cloud_event(_change(queue_id=queue, reason="policy v1: rule Ärger"), "{}")
    assert json.loads(written)["data"]["queue_id"] == str(queue)
    assert "Ärger".encode() in written  # orjson's UTF-8: not the slow encoder's \u escapes
