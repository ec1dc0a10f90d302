"""QUEUE_GROUPS changes only with the queue drained, and a consumer refuses a message hashed
under another count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.adapters.sqlite.sqlite_queue import SqliteQueue
from chalicelib.domain.messages import group_for
from chalicelib.ports.queue import OutgoingMessage
from chalicelib.usecases.sequenced import QueueGroupsChanged, group_number
from scripts.queue_groups import change


def test_the_count_is_refused_while_a_message_is_queued_and_set_once_drained(
        tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"stages": {"prod": {"environment_variables": {}}}}))
    queue = SqliteQueue(str(tmp_path / "q.db"), max_receives=3)
    queue.send([OutgoingMessage("g", "d1", "{}")])
    assert "drain the queue first" in (change(queue, config, "prod", 8) or "")
    assert "QUEUE_GROUPS" not in config.read_text()
    (message,) = queue.receive(1, 30)
    assert change(queue, config, "prod", 8) is not None  # in flight counts too
    queue.delete(message.handle)
    assert change(queue, config, "prod", 8) is None
    env = json.loads(config.read_text())["stages"]["prod"]["environment_variables"]
    assert env == {"QUEUE_GROUPS": "8"}


def test_a_consumer_refuses_a_message_hashed_under_another_count() -> None:
    group = group_for("b1", "A1", 8)
    assert group_number(group, 8) == group_number(group) is not None
    with pytest.raises(QueueGroupsChanged):
        group_number(group, 4)
    assert group_number(group_for("b1", "A1", 0)) is None  # a group per account: the ledger
