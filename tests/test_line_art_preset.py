"""The line-art preset (issue 23; now version 4): what its preview shows passes its own line-art
checks, a DIR made with an earlier version is refused with --rebuild, the photo default on
drawings is pointed out once, and inspect shows what the checks rejected (rates and drafts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from expand.augment.checks import Checks, SourceFacts, measure
from expand.augment.pipeline import copy_polarity, output_map
from expand.cli import app
from expand.config import PRESET_VERSIONS, PRESETS, resolve_config
from expand.tools import preview as preview_module
from expand.tools.inspection import inspect_output
from expand.tools.replay import load_run

runner = CliRunner()


def test_every_copy_the_preview_draws_keeps_its_topology_and_is_no_blob(
        samples_train: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`expand preview SAMPLES --preset line-art` as the command runs it (2 sources a class,
    6 copies each); every drawn copy is measured, and the sheet is kept for the issue."""
    drawn: list[tuple[np.ndarray, Any, Any]] = []
    original = preview_module.draw_output

    def spy(decoded: Any, augment: Any, seed: int, rel: str, copy: int, traced: Any,
            *rest: Any) -> Any:
        pixels, params, checked = original(decoded, augment, seed, rel, copy, traced, *rest)
        drawn.append((pixels, params, SourceFacts.of(decoded.pixels, traced)))
        return pixels, params, checked

    monkeypatch.setattr(preview_module, "draw_output", spy)
    result = runner.invoke(app, ["preview", str(samples_train), "--preset", "line-art", "-o",
                                 str(tmp_path / "sheet.png")])
    assert result.exit_code == 0, result.output
    assert len(drawn) == 3 * 2 * 6
    preset = Checks.from_value(PRESETS["line-art"]["checks"])
    assert preset is not None and preset.topology and preset.max_ink_fill_frac is not None
    checks = Checks(topology=True, max_ink_fill_frac=preset.max_ink_fill_frac)
    for pixels, params, facts in drawn:
        height, width = pixels.shape[:2]
        values = measure(checks, pixels, facts, False,
                         output_map(params, facts.traced, width, height), None,
                         copy_polarity(params, facts.traced))
        assert checks.failing(values, facts.holes) == [], values


def _old_preset_run(samples: Path, out: Path, version: int) -> None:
    """A DIR as an earlier version of the preset left it (version 1: run.json without
    preset_version)."""
    assert runner.invoke(app, ["run", str(samples), "--out", str(out), "--preset", "line-art",
                               "--copies", "1", "--workers", "1", "--quiet"]).exit_code == 0
    record = json.loads((out / "run.json").read_text())
    assert record["config"].pop("preset_version") == PRESET_VERSIONS["line-art"] == 4
    if version > 1:
        record["config"]["preset_version"] = version
    (out / "run.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


@pytest.mark.parametrize("version", [1, 2, 3])
def test_a_dir_made_with_an_old_preset_is_refused_with_rebuild(samples_train: Path,
                                                               tmp_path: Path,
                                                               version: int) -> None:
    out = tmp_path / "out"
    _old_preset_run(samples_train, out, version)
    again = ["run", str(samples_train), "--out", str(out), "--preset", "line-art", "--copies",
             "1", "--workers", "1", "--quiet"]
    refused = runner.invoke(app, again)
    assert refused.exit_code == 2
    assert f"version {version} of the 'line-art' preset" in refused.output
    assert "--rebuild" in refused.output and "Traceback" not in refused.output
    rebuilt = runner.invoke(app, [*again, "--rebuild"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert json.loads((out / "run.json").read_text())["config"]["preset_version"] == 4


def test_other_presets_record_no_version(samples_train: Path, tmp_path: Path) -> None:
    config = resolve_config(samples_train, tmp_path, cli_run={}, cli_augment={},
                            preset_name="shapes-tutorial")
    assert "preset_version" not in config.determining()


def _photos(root: Path) -> Path:
    (root / "noise").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(
            root / "noise" / f"{i}.png")
    return root


def test_drawings_under_the_photo_default_are_pointed_out_once(samples_train: Path,
                                                               tmp_path: Path) -> None:
    done = runner.invoke(app, ["run", str(samples_train), "--out", str(tmp_path / "a"),
                               "--copies", "1", "--workers", "2"])
    assert done.exit_code == 0
    hints = [line for line in done.output.splitlines() if "looks like line art" in line]
    assert len(hints) == 1 and "circle, rectangle, triangle" in hints[0]
    assert "--preset line-art" in hints[0]
    lined = runner.invoke(app, ["run", str(samples_train), "--out", str(tmp_path / "b"),
                                "--copies", "1", "--preset", "line-art"])
    assert "looks like line art" not in lined.output
    photos = runner.invoke(app, ["run", str(_photos(tmp_path / "src")), "--out",
                                 str(tmp_path / "c"), "--copies", "1"])
    assert photos.exit_code == 0 and "looks like line art" not in photos.output


def test_inspect_gives_the_rejection_rate_per_check_and_class(samples_train: Path,
                                                              tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert runner.invoke(app, ["run", str(samples_train), "--out", str(out), "--preset",
                               "line-art", "--copies", "6", "--quiet"]).exit_code == 0
    rows = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    _, cells, stats, _ = inspect_output(load_run(out), 2, 64)
    for label in ("circle", "rectangle", "triangle"):
        mine = [r for r in rows if r["label"] == label]
        drafts = sum(r["attempt"] + 1 for r in mine)
        holes = sum(d.count("holes") for r in mine for d in r["rejected"])
        found = stats["checks"][label]
        assert found["drafts"] == drafts
        assert found["rejected"]["holes"] == {"count": holes, "rate": round(holes / drafts, 4)}
    assert sum(c["drafts"] for c in stats["checks"].values()) > len(rows), \
        "some drafts should have been rejected on the samples"
    shown = [c for c in cells if c.meta.get("draft") == 0]
    redrawn = {r["file_name"]: r for r in rows if r["attempt"]}
    assert 0 < len(shown) <= 6 and all(c.meta["file_name"] in redrawn for c in shown)
    for cell in shown:
        failed = redrawn[cell.meta["file_name"]]["rejected"][0]
        assert cell.caption[-1] == "failed " + ", ".join(failed)
