"""End to end on the samples: the real `expand`, then `train fit` and `train evaluate`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from train_fixtures import ROOT, SAMPLES


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, text=True,
                            capture_output=True, timeout=600, check=False)
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


def _has_colour(path: Path, rgb: tuple[int, int, int], at_least: int) -> bool:
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
    return int((np.abs(pixels - rgb).sum(axis=2) < 30).sum()) >= at_least


@pytest.mark.slow
def test_expand_fit_evaluate(tmp_path: Path) -> None:
    expanded, run = tmp_path / "expanded", tmp_path / "run"
    _run("expand", str(SAMPLES / "train"), "--copies", "20", "--out", str(expanded),
         "--seed", "0", "--preset", "shapes-tutorial")
    rows = [json.loads(line) for line in (expanded / "metadata.jsonl").read_text().splitlines()]
    assert len(rows) == 45 * 20

    fitted = _run("train", "fit", str(expanded), "--out", str(run), "--model", "shapes",
                  "--epochs", "5", "--val-fraction", "0.2", "--seed", "0")
    assert "split by-source: 720 training images from 36 sources, 180 validation images from 9 " \
           "held-out sources" in fitted.stdout
    assert re.search(r"^validation accuracy: \S+ \(\d+/180 images from 9 independent sources\)$",
                     fitted.stdout, re.MULTILINE), fitted.stdout
    info = json.loads((run / "run.json").read_text())
    source_of = {row["file_name"]: row["source"] for row in rows}
    val_files = [p["file"] for p in
                 json.loads((run / "val" / "metrics.json").read_text())["predictions"]]
    assert {source_of[f] for f in val_files} == set(info["split"]["val_sources"])
    assert len(val_files) == 9 * 20

    evaluated = _run("train", "evaluate", str(run), str(SAMPLES / "test"))
    for name in ("model.keras", "history.json", "run.json", "learning_curves.png",
                 "val/metrics.json", "val/confusion_matrix.png",
                 "eval/test/metrics.json", "eval/test/confusion_matrix.png",
                 "eval/test/classification_report.txt"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "eval" / "test" / "metrics.json").read_text())
    printed = re.search(r"^accuracy: (\S+) \((\d+)/15 images from 15 independent sources\)$",
                        evaluated.stdout, re.MULTILINE)
    assert printed is not None, evaluated.stdout
    assert printed.group(1) == f"{metrics['accuracy']:.4f}"
    assert int(printed.group(2)) == metrics["correct"] == round(metrics["accuracy"] * 15)
    assert set(metrics["per_class"]) == {"circle", "rectangle", "triangle"}
    assert all(set(v) == {"precision", "recall", "f1", "support"}
               for v in metrics["per_class"].values())
    assert np.array(metrics["confusion_matrix"]).sum() == 15
    assert (run / "eval" / "test" / "classification_report.txt").read_text() in evaluated.stdout

    history = json.loads((run / "history.json").read_text())
    assert all(len(v) == 5 for v in history.values())
    # The curves are drawn: matplotlib's blue (training) and orange (validation) lines are there.
    curves = run / "learning_curves.png"
    assert _has_colour(curves, (31, 119, 180), 300) and _has_colour(curves, (255, 127, 14), 300)
    # The confusion matrix is drawn with its cells shaded (Blues colormap).
    assert _has_colour(run / "eval" / "test" / "confusion_matrix.png", (8, 48, 107), 500)
