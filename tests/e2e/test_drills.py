"""The fault drills of ``python -m bench.drills`` at small scale: crashes, a Redis restart, an outage, poison."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from bench.drills import Plan, drill_empty, drill_kill, drill_outage, drill_poison, drill_redis

pytestmark = pytest.mark.e2e

# The kill moments are random; a failing run prints its seed, and NEWSWIRE_DRILL_SEED reruns it.
SEED = int(os.environ.get("NEWSWIRE_DRILL_SEED") or random.SystemRandom().randrange(1_000_000))
PLAN = Plan.quick(SEED)


def passed(report: str) -> str:
    return f"seed {SEED} (rerun with NEWSWIRE_DRILL_SEED={SEED}):\n{report}"


@pytest.mark.timeout(240)
async def test_kill_9_of_enrich_then_publish_loses_and_repeats_nothing(tmp_path: Path) -> None:
    result = await drill_kill(tmp_path, PLAN)
    assert result.ok, passed(result.report())
    assert result.figures["webhook_ids"] == result.figures["sse_events"] == PLAN.stories


@pytest.mark.timeout(240)
async def test_kill_9_of_redis_keeps_every_202_and_answers_503_meanwhile(tmp_path: Path) -> None:
    result = await drill_redis(tmp_path, PLAN)
    assert result.ok, passed(result.report())
    answers = result.figures["answers_while_down"]
    assert isinstance(answers, dict) and answers.get(503, 0) > 0 and 500 not in answers


@pytest.mark.timeout(240)
async def test_workers_read_on_when_redis_comes_back_without_its_data(tmp_path: Path) -> None:
    result = await drill_empty(tmp_path, PLAN)
    assert result.ok, passed(result.report())
    assert result.figures["readers_restarted"] == ["enrich", "lifecycle", "publish", "webhooks"]
    durability_503s = result.figures["durability_503s"]
    assert isinstance(durability_503s, int) and durability_503s > 0


@pytest.mark.timeout(240)
async def test_a_partner_down_for_a_while_gets_its_backlog_in_order(tmp_path: Path) -> None:
    result = await drill_outage(tmp_path, PLAN)
    assert result.ok, passed(result.report())
    assert result.figures["backlog"] == result.figures["webhook_ids"]
    failed = result.figures["failed_attempts_while_down"]
    assert isinstance(failed, int) and failed > 0  # the endpoint really was down and was tried


@pytest.mark.timeout(240)
async def test_poison_messages_are_dead_lettered_and_shown_and_the_rest_goes_on(tmp_path: Path) -> None:
    result = await drill_poison(tmp_path, PLAN)
    assert result.ok, passed(result.report())
    assert result.figures["dead_letters"] == 3
    assert result.figures["shown_by_cli"] == 3
