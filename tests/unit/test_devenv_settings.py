"""``newswire dev`` refuses a bad setting, or a REDIS_URL with no server behind it, before it starts anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.wire.devenv import run_dev
from services.wire.redis_server import free_port
from services.wire.settings import SettingsError


def test_a_bad_setting_is_refused_before_the_server_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("NEWSWIRE_GC_LOG_MS", "soon")
    data_dir = tmp_path / "dev"
    with pytest.raises(SettingsError, match="NEWSWIRE_GC_LOG_MS"):
        run_dev(data_dir, free_port(), free_port())
    assert not data_dir.exists()  # the server would have made its data directory there


def test_a_server_that_redis_url_names_but_does_not_answer_is_named_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    data_dir = tmp_path / "dev"
    assert run_dev(data_dir, free_port(), free_port()) == 2
    assert "cannot reach the server REDIS_URL names" in capsys.readouterr().err
    assert not data_dir.exists()
