"""Story files for ``newswire file`` and settings from the environment."""

from __future__ import annotations

import pytest

from services.wire.settings import Durability, Settings, SettingsError
from services.wire.story import parse_text


def test_plain_text_first_line_is_the_headline() -> None:
    story = parse_text("\nRiver bursts its banks\n\nThe river rose overnight.\nIt kept rising.\n\nResidents left <early>.\n")
    assert story["headline"] == "River bursts its banks"
    assert story["body"] == "<p>The river rose overnight. It kept rising.</p><p>Residents left &lt;early&gt;.</p>"


def test_header_lines() -> None:
    story = parse_text("Headline: Vote count resumes\nUrgency: 2\nKeywords: election, count\n\nCounting resumed.\n")
    assert story == {"headline": "Vote count resumes", "urgency": 2, "keywords": ["election", "count"],
                     "body": "<p>Counting resumed.</p>"}


def test_a_colon_in_the_first_line_is_not_a_header() -> None:
    story = parse_text("Border guards: troops leave\n\nBody text.")
    assert story["headline"] == "Border guards: troops leave"


COPIED_PAGE = """Latest
Top Stories

Harbour reopens after the storm, port authority says

3 min read
Harbour reopens after the storm, port authority says
Boats wait outside the harbour wall on Monday. (Photo by Jo Example/Newswire)

The harbour reopened on Tuesday after two days of repairs, the port authority said.

"We expect normal traffic by Friday," a spokesperson said.
Ferry operators welcome the news
Avatar
Sam Writer

Reporter

Sam Writer is a reporter for the Coastal Times, covering shipping and trade. Based in Harwich, Sam has written for Radio Example.

Read more
Show More
"""


def test_a_copied_news_page_loses_its_furniture() -> None:
    story = parse_text(COPIED_PAGE)
    assert story["headline"] == "Harbour reopens after the storm, port authority says"
    assert story["byline"] == "Sam Writer"
    assert story["body"] == (
        "<p>Boats wait outside the harbour wall on Monday. (Photo by Jo Example/Newswire)</p>"
        "<p>The harbour reopened on Tuesday after two days of repairs, the port authority said.</p>"
        "<p>&quot;We expect normal traffic by Friday,&quot; a spokesperson said.</p>"
    )


def test_a_header_byline_wins_over_the_author_box() -> None:
    story = parse_text("Byline: Desk staff\n\n" + COPIED_PAGE)
    assert story["byline"] == "Desk staff"
    assert "Coastal Times" not in story["body"]


def test_a_written_story_keeps_a_last_line_without_a_full_stop() -> None:
    story = parse_text("Budget vote delayed\n\nThe council put off its vote.\n\nMore to follow\n")
    assert story["headline"] == "Budget vote delayed"
    assert story["body"] == "<p>The council put off its vote.</p><p>More to follow</p>"


def test_settings_from_env() -> None:
    settings = Settings.from_env({"REDIS_URL": "redis://h:1/2", "NEWSWIRE_DURABILITY": "fsync-everysec",
                                  "NEWSWIRE_PARTITIONS": "4", "NEWSWIRE_INGEST_PORT": "9000"})
    assert settings.redis_url == "redis://h:1/2"
    assert settings.durability is Durability.EVERYSEC
    assert settings.partitions == 4
    assert settings.ingest_port == 9000
    assert Settings.from_env({}).durability is Durability.ALWAYS
    assert Settings.from_env({}).gc_log_ms == 0
    assert Settings.from_env({"NEWSWIRE_GC_LOG_MS": "25"}).gc_log_ms == 25
    assert Settings.from_env({}).tail_keep == 10_000
    assert Settings.from_env({"NEWSWIRE_TAIL_KEEP": "500"}).tail_keep == 500


@pytest.mark.parametrize(
    ("env", "needle"),
    [({"NEWSWIRE_DURABILITY": "sometimes"}, "fsync-always"), ({"NEWSWIRE_PARTITIONS": "0"}, "at least 1"),
     ({"NEWSWIRE_INGEST_PORT": "eighty"}, "integer"), ({"NEWSWIRE_TAIL_KEEP": "10"}, "at least 100"),
     ({"NEWSWIRE_LOG_FORMAT": "xml"}, "console or json")],
)
def test_bad_settings_are_explained(env: dict[str, str], needle: str) -> None:
    with pytest.raises(SettingsError, match=needle):
        Settings.from_env(env)


def test_start_up_objects_are_kept_out_of_full_collections() -> None:
    import gc

    from services.wire.loop import freeze_startup_objects, hold_collections_for_startup

    before = gc.get_freeze_count()
    try:
        hold_collections_for_startup()
        assert not gc.isenabled()
        loaded = [[i] for i in range(1000)]  # containers a service keeps from start-up
        freeze_startup_objects()
        assert gc.get_freeze_count() >= before + len(loaded)
        assert gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()


def test_long_collections_are_logged_and_short_ones_not() -> None:
    import gc
    import json

    from bench.pipeline import GcPause, gc_pause_text, gc_pauses
    from services.wire.loop import EV_GC_PAUSE, log_long_collections

    logged: list[tuple[str, dict[str, object]]] = []
    every = log_long_collections(0, lambda event, **fields: logged.append((event, fields)))
    never = log_long_collections(60_000, lambda event, **fields: logged.append(("too short to log", fields)))
    try:
        gc.collect()
    finally:
        gc.callbacks.remove(every)
        gc.callbacks.remove(never)
    assert [(event, fields["generation"]) for event, fields in logged] == [(EV_GC_PAUSE, 2)]
    pause = logged[0][1]
    assert isinstance(pause["ms"], float) and pause["ms"] >= 0 and isinstance(pause["collected"], int)
    assert isinstance(pause["cpu_ms"], float) and pause["cpu_ms"] >= 0
    lines = [json.dumps({"event": EV_GC_PAUSE, "ms": 12.5, "cpu_ms": 3.25, "generation": 2}), "not json gc.pause",
             json.dumps({"event": "article.enriched", "note": "gc.pause"}), json.dumps({"event": EV_GC_PAUSE, "ms": 40})]
    found = gc_pauses("\n".join(lines))
    assert found == [GcPause(12.5, 3.25), GcPause(40.0, None)]
    assert gc_pause_text(found) == "2, longest 40 ms"
    assert gc_pause_text(found[:1]) == "1, longest 12 ms (3 ms of CPU)"
    assert gc_pause_text([]) == "0"


def test_workers_run_on_uvloop() -> None:
    import asyncio

    from services.wire.run import run_on_uvloop

    loops: list[str] = []

    async def main() -> None:
        loops.append(type(asyncio.get_running_loop()).__module__)

    run_on_uvloop(main())
    assert loops == ["uvloop"]


def test_json_logs_are_one_object_a_line_with_context_and_a_repr_of_what_json_cannot_hold(
        capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    import json

    import structlog

    from services.wire.logging import configure_logging
    from services.wire.settings import Settings

    class Opaque:
        def __repr__(self) -> str:
            return "<opaque thing>"

    configure_logging(Settings(log_format="json", log_level="INFO"))
    try:
        log = structlog.get_logger("json-test")
        structlog.contextvars.bind_contextvars(correlation_id="c-1")
        log.info("article.enriched", tags=["Zürich", "Kyiv"], related=3, thing=Opaque())
        log.debug("not.shown")
        try:
            raise ValueError("broken")
        except ValueError:
            log.exception("entry.failed")
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.reset_defaults()
    lines = capsysbinary.readouterr().err.decode().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["event"] for r in records] == ["article.enriched", "entry.failed"]
    first = records[0]
    assert first["tags"] == ["Zürich", "Kyiv"] and first["related"] == 3 and first["thing"] == "<opaque thing>"
    assert first["correlation_id"] == "c-1" and first["level"] == "info" and first["timestamp"].endswith("Z")
    assert "ValueError: broken" in records[1]["exception"]
