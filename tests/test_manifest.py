"""The manifest spool: rows in any order come out sorted, counted and checked for duplicates,
whether they stayed in memory or were spilled to sorted runs on disk and merged."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expand.io.storage import LocalStore
from expand.run import manifest
from expand.run.manifest import ManifestSpool, read_manifest
from expand.run.state import rows_line


def _rows(count: int) -> list[dict[str, object]]:
    rows = []
    for i in range(count):
        label = ("circle", "square", "tab\there")[i % 3]
        source = f"{label}/s{i // 4:03d}.png"
        digest = hashlib.sha256(str(i % 50).encode()).hexdigest()  # every 50th row repeats
        rows.append({"file_name": f"{source}__aug{i % 4:04d}.png", "label": label,
                     "source": source, "copy": i % 4, "sha256": digest, "bytes": i,
                     "width": 8, "height": 8, "mode": "RGB", "params": {}})
    return rows


@pytest.mark.parametrize("run_rows", [7, 100_000])
def test_rows_in_any_order_are_written_sorted_counted_and_checked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_rows: int) -> None:
    monkeypatch.setattr(manifest, "_RUN_ROWS", run_rows)
    rows = _rows(120)
    shuffled = rows[:]
    random.Random(3).shuffle(shuffled)
    out = LocalStore(tmp_path)
    spool = ManifestSpool(tmp_path)
    for row in shuffled:
        spool.add([row])
    totals = spool.write(out)
    duplicates = spool.duplicates()
    spool.discard()

    written = (tmp_path / "metadata.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in written] == sorted(rows, key=lambda r: r["file_name"])
    assert dict(totals.labels) == {"circle": 40, "square": 40, "tab\there": 40}
    assert sum(totals.sources.values()) == len({r["source"] for r in rows})
    by_hash: dict[str, list[str]] = {}
    for row in read_manifest(tmp_path):
        by_hash.setdefault(row["sha256"], []).append(row["file_name"])
    assert duplicates == tuple(sorted(tuple(g) for g in by_hash.values() if len(g) > 1))
    assert len(duplicates) == 50 and all(len(group) in (2, 3) for group in duplicates)
    assert sorted(tmp_path.iterdir()) == [tmp_path / "metadata.jsonl"]
    assert len(list(read_manifest(tmp_path))) == 120


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.dictionaries(st.text(max_size=8), st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8),
    st.dictionaries(st.text(max_size=4), st.floats(allow_nan=False), max_size=3)), max_size=5),
    max_size=4))
def test_a_journal_line_from_rows_encoded_once_is_json_dumps_of_them(
        rows: list[dict[str, object]]) -> None:
    """The run encodes each row once, for the journal and the manifest alike."""
    encoded = [json.dumps(row, ensure_ascii=False) for row in rows]
    assert rows_line(encoded) == json.dumps({"rows": rows}, ensure_ascii=False)
