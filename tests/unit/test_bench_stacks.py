"""``python -m bench.stacks``: inclusive and own shares of a py-spy raw profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.stacks import function_of, main, shares

ROOT = "<module> (services/enrich/__main__.py:40);run (asyncio/runners.py:118)"
RAW = "\n".join([
    f"{ROOT};handle (services/enrich/app.py:120);enrich (services/enrich/core.py:95) 6",
    f"{ROOT};handle (services/enrich/app.py:120);encode (msgspec/json.py:3) 2",
    f"{ROOT} 2",
    "_bootstrap (threading.py:995);QueueListener._monitor (logging/handlers.py:1570);Condition.wait (threading.py:320) 90",
]) + "\n"


def test_shares_are_of_the_working_samples_inclusive_and_own() -> None:
    total, found = shares(RAW.splitlines())
    assert total == 10  # the queue listener's 90 samples of waiting are not work
    by_name = {s.function: (round(s.inclusive, 3), round(s.own, 3)) for s in found}
    assert by_name["handle (services/enrich/app.py)"] == (0.8, 0.0)
    assert by_name["enrich (services/enrich/core.py)"] == (0.6, 0.6)
    assert by_name["encode (msgspec/json.py)"] == (0.2, 0.2)
    assert by_name["run (asyncio/runners.py)"] == (1.0, 0.2)
    # busiest first; of two on every stack, the one more samples ended in
    assert [s.function for s in found][:2] == ["run (asyncio/runners.py)", "<module> (services/enrich/__main__.py)"]
    _, ours = shares(RAW.splitlines(), match="services/")
    assert {s.function for s in ours} == {"<module> (services/enrich/__main__.py)", "handle (services/enrich/app.py)",
                                          "enrich (services/enrich/core.py)"}


def test_a_frame_names_its_function_and_file_without_the_site_packages_prefix() -> None:
    assert function_of("read (/x/.venv/lib/python3.11/site-packages/redis/connection.py:12)") == (
        "read (redis/connection.py)", "/x/.venv/lib/python3.11/site-packages/redis/connection.py")
    assert function_of("0x7f10d54308c7") == ("0x7f10d54308c7", "")


def test_the_command_prints_the_busiest_functions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "push-enrich.txt"
    profile.write_text(RAW, encoding="utf-8")
    assert main([str(profile), "--top", "2", "--match", "services/"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("10 working samples; inclusive and own share of them")
    assert lines[1:] == ["100.0%   0.0%  <module> (services/enrich/__main__.py)",
                         " 80.0%   0.0%  handle (services/enrich/app.py)"]
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    assert main([str(tmp_path / "empty.txt")]) == 1
