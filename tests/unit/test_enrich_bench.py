"""``python -m bench.enrich --quick`` on a tiny synthetic data folder prints every row of its table."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import enrich
from bench.enrich_data import write_synthetic_data


def test_quick_report_has_every_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_synthetic_data(tmp_path)
    assert enrich.main(["--quick", "--data", str(tmp_path), "--sizes", "300,600"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| section")]

    def having(*words: str) -> list[str]:
        return [r for r in rows if all(w in r for w in words)]

    assert having("entities", "CoNLL-2003", "mention, PER+ORG+LOC")
    assert having("entities", "CoNLL-2003", "document")
    assert len(having("subjects", "BBC News")) == 1
    assert len(having("subjects", "AG News")) == 1
    assert having("related", "wikiref", "headline (") and having("related", "wikiref", "headline + lead")
    assert having("related", "UCI", "headline")
    assert having("latency", "300 archived") and having("latency", "600 archived")
    assert "machine:" in out
    # The synthetic entities are all in the synthetic vocabulary learned from "train": the scores are real numbers.
    f1 = float(having("mention, PER+ORG+LOC")[0].rstrip(" |").rsplit("|", 1)[1])
    assert 0.0 < f1 <= 1.0
