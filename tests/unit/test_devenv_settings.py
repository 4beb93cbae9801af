"""``newswire dev`` refuses a bad setting before it starts anything, so nothing is left running."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from services.wire.devenv import run_dev
from services.wire.settings import SettingsError


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_bad_setting_is_refused_before_the_server_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("NEWSWIRE_GC_LOG_MS", "soon")
    data_dir = tmp_path / "dev"
    with pytest.raises(SettingsError, match="NEWSWIRE_GC_LOG_MS"):
        run_dev(data_dir, _free_port(), _free_port())
    assert not data_dir.exists()  # the server would have made its data directory there
