"""Step 4 of a topic recycle (cdc/recycle.py): the stream stays held until every group
has committed a position on the new topics, and the connector's log says how long
making the topics took and when each group got there, naming one that did not."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from aiokafka import TopicPartition

from bench.push_latency import recycle_holds
from cdc.recycle import RECYCLED_MESSAGE, groups_on_new_topics, new_topics_detail

ACCOUNTS = TopicPartition("account-events", 0)
AUDIT = TopicPartition("audit-events", 0)


class _Offsets:
    """The groups' committed offsets, as the broker answers them poll after poll."""

    def __init__(self, answers: dict[str, list[dict[TopicPartition, int | None]]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def committed(
        self, group: str, tps: list[TopicPartition]
    ) -> dict[TopicPartition, int | None]:
        self.asked.append(group)
        polls = self.answers[group]
        answer = polls.pop(0) if len(polls) > 1 else polls[0]
        return {tp: answer.get(tp) for tp in tps}


def test_each_group_is_timed_when_it_first_commits_on_every_partition_it_reads() -> None:
    offsets = _Offsets(
        {
            "bank-projections": [{ACCOUNTS: 0}],
            # one partition at the first poll, both at the second
            "bank-notifications": [{ACCOUNTS: 0}, {ACCOUNTS: 0, AUDIT: 0}],
        }
    )
    groups = {"bank-projections": [ACCOUNTS], "bank-notifications": [ACCOUNTS, AUDIT]}
    on_new: dict[str, float] = {}

    assert not asyncio.run(groups_on_new_topics(offsets, groups, on_new, since=0.0))
    assert set(on_new) == {"bank-projections"}
    assert asyncio.run(groups_on_new_topics(offsets, groups, on_new, since=0.0))
    assert set(on_new) == {"bank-projections", "bank-notifications"}
    # a group already on the new topics is not asked again
    assert offsets.asked == ["bank-projections", "bank-notifications", "bank-notifications"]


def test_a_group_with_nothing_to_commit_on_is_on_the_new_topics_at_once() -> None:
    offsets = _Offsets({"bank-projections": [{}]})
    on_new: dict[str, float] = {}
    assert asyncio.run(groups_on_new_topics(offsets, {"bank-projections": []}, on_new, since=0.0))


def test_the_log_names_the_group_that_was_slow_and_still_gives_the_hold(tmp_path: Path) -> None:
    groups = {"bank-notifications": [ACCOUNTS], "bank-projections": [ACCOUNTS]}
    said = new_topics_detail(0.35, {"bank-projections": 0.41}, groups, done=False)
    assert said == (
        " (made in 0.35 s; on them: bank-notifications not in time, bank-projections 0.41 s;"
        " a group did not acknowledge them in time)"
    )
    log = tmp_path / "cdc.log"
    message = RECYCLED_MESSAGE % (["account-events"], 2518, 47.5, 0.07, 10.02, said, "")
    log.write_text(json.dumps({"message": message}) + "\n")
    assert recycle_holds(log) == [(0.07, 10.02)]  # what bench.push_latency reads
    times = {"bank-notifications": 0.1, "bank-projections": 0.12}
    fine = new_topics_detail(0.05, times, groups, done=True)
    assert fine == " (made in 0.05 s; on them: bank-notifications 0.10 s, bank-projections 0.12 s)"
