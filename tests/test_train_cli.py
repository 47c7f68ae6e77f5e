"""The `train` command through Typer's CliRunner: fit, evaluate, predict, compare, and errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from scipy import stats
from train_fixtures import CLASSES, ROOT, SAMPLES, expand_like
from typer.testing import CliRunner

from train.cli import app

# Keras 3.15 converts tensors with a NumPy-2-deprecated call; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

runner = CliRunner()


@pytest.fixture(scope="module")
def expanded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data") / "expanded"
    return expand_like(SAMPLES / "train", out, copies=3, include_originals=True)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, expanded: Path) -> Path:
    folder = tmp_path_factory.mktemp("runs") / "run"
    result = runner.invoke(app, ["fit", str(expanded), "--out", str(folder), "--epochs", "3",
                                 "--batch-size", "16", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert "split by-source: 144 training images, 9 validation images" in result.stdout
    return folder


def test_public_api_resolves_to_functions_and_classes() -> None:
    """Every lazily exported name is the object, never a submodule of the same name."""
    import train
    import train.compare
    import train.evaluate
    import train.fit  # loaded first: a clashing name would now be the module

    for name in train.__all__:
        assert not isinstance(getattr(train, name), ModuleType), name
    from train import compare_datasets, evaluate_run, fit_run

    assert all(callable(f) for f in (compare_datasets, evaluate_run, fit_run))


def test_help_lists_the_commands() -> None:
    from typer.main import get_command

    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    commands = set(get_command(app).commands)  # type: ignore[attr-defined]
    assert commands == {"fit", "evaluate", "predict", "compare"}
    panel = result.stdout[result.stdout.index("Commands"):]  # a row each, not the app's prose
    assert all(re.search(rf"^\W*{command}\s", panel, re.MULTILINE) for command in commands)


def test_cli_and_package_import_without_tensorflow() -> None:
    """`train --help` must not pay TensorFlow's seconds of import time."""
    code = ("import sys, train, train.cli; assert train.TrainConfig; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'keras', 'sklearn', 'matplotlib')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_fit_writes_the_run_folder(run: Path) -> None:
    for name in ("model.keras", "history.json", "learning_curves.png", "run.json",
                 "val/metrics.json", "val/confusion_matrix.png", "val/classification_report.txt"):
        assert (run / name).is_file(), name
    history = json.loads((run / "history.json").read_text())
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == 3 for values in history.values())
    info = json.loads((run / "run.json").read_text())
    assert info["class_names"] == list(CLASSES)
    assert info["split"]["method"] == "by-source" and len(info["split"]["val_sources"]) == 9
    metrics = json.loads((run / "val/metrics.json").read_text())
    # validation uses the originals of the held-out sources, never one of their copies
    assert {p["file"] for p in metrics["predictions"]} == {
        f"{s}__orig.png" for s in info["split"]["val_sources"]}
    assert metrics["accuracy"] == pytest.approx(history["val_accuracy"][-1])


def test_evaluate_prints_the_accuracy_it_saves(run: Path) -> None:
    result = runner.invoke(app, ["evaluate", str(run), str(SAMPLES / "test")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "eval/test/metrics.json").read_text())
    printed = re.search(r"^accuracy: (\S+) \((\d+)/(\d+) images\)$", result.stdout, re.MULTILINE)
    assert printed is not None
    assert printed.group(1) == f"{metrics['accuracy']:.4f}"
    assert (int(printed.group(2)), int(printed.group(3))) == (metrics["correct"], 15)
    assert metrics["accuracy"] == metrics["correct"] / 15
    matrix = np.array(metrics["confusion_matrix"])
    assert matrix.sum() == 15 and np.trace(matrix) == metrics["correct"]
    assert matrix.sum(axis=1).tolist() == [5, 5, 5]
    for name in CLASSES:
        row = metrics["per_class"][name]
        assert row["support"] == 5 and 0 <= row["f1"] <= 1
    assert "precision" in result.stdout and "recall" in result.stdout
    assert (run / "eval/test/confusion_matrix.png").stat().st_size > 1000


def test_predict_agrees_with_evaluate(run: Path) -> None:
    runner.invoke(app, ["evaluate", str(run), str(SAMPLES / "test")])
    saved = {p["file"]: p for p in
             json.loads((run / "eval/test/metrics.json").read_text())["predictions"]}
    files = ["circle/circle016.png", "triangle/triangle020.png"]
    result = runner.invoke(app, ["predict", str(run), "--json",
                                 *[str(SAMPLES / "test" / f) for f in files]])
    assert result.exit_code == 0, result.output
    answers = json.loads(result.stdout)
    for name, answer in zip(files, answers):
        probs = answer["probabilities"]
        assert list(probs) == list(CLASSES)
        assert sum(probs.values()) == pytest.approx(1, abs=1e-5)
        assert answer["class"] == max(probs, key=probs.get) == saved[name]["predicted"]
        assert list(probs.values()) == pytest.approx(saved[name]["probabilities"], abs=1e-5)
    plain = runner.invoke(app, ["predict", str(run), str(SAMPLES / "test" / files[0])])
    assert plain.stdout.split("\t")[1] == answers[0]["class"]


def test_compare_json_numbers(tmp_path: Path, expanded: Path) -> None:
    result = runner.invoke(app, ["compare", str(SAMPLES / "train"), str(expanded),
                                 "--test", str(SAMPLES / "test"), "--seeds", "2",
                                 "--epochs", "2", "--batch-size", "16", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["seeds"] == [0, 1]
    assert report["train_images"] == {"original": 45, "expanded": 180}
    # equal steps: both arms take 2 x ceil(180 / 16) optimizer steps
    assert report["optimizer_steps"] == {"original": 24, "expanded": 24}
    (test,) = report["tests"]
    assert test["images"] == 15 and test["points_per_image"] == pytest.approx(100 / 15)
    accs = {}
    for arm in ("original", "expanded"):
        numbers = test["arms"][arm]
        accs[arm] = numbers["accuracies"]
        assert len(accs[arm]) == 2
        assert all(round(a * 15) == pytest.approx(a * 15) for a in accs[arm])  # k/15 each
        assert numbers["mean"] == pytest.approx(np.mean(accs[arm]))
        assert numbers["std"] == pytest.approx(np.std(accs[arm], ddof=1))
    diffs = np.subtract(accs["expanded"], accs["original"])
    assert test["difference"]["per_seed"] == pytest.approx(diffs.tolist())
    assert test["difference"]["mean"] == pytest.approx(diffs.mean())
    half = stats.t.ppf(0.975, 1) * np.std(diffs, ddof=1) / np.sqrt(2)
    assert test["difference"]["interval"] == pytest.approx([diffs.mean() - half,
                                                            diffs.mean() + half])
    # 15 images cannot separate anything under ±25 points (1.96 x 50 / sqrt(15))
    assert (test["warning"] is not None) == (abs(diffs.mean()) < 1.96 * 0.5 / np.sqrt(15))
    assert result.stderr.count("test accuracy") == 4


def test_compare_equal_epochs_table(tmp_path: Path, expanded: Path) -> None:
    result = runner.invoke(app, ["compare", str(SAMPLES / "train"), str(expanded),
                                 "--test", str(SAMPLES / "test"), "--test", str(SAMPLES / "train"),
                                 "--seeds", "1", "--epochs", "1", "--batch-size", "16",
                                 "--schedule", "equal-epochs"])
    assert result.exit_code == 0, result.output
    assert "original 45 images, 3 optimizer steps, expanded 180 images, 12 optimizer steps" \
        in result.stdout
    assert result.stdout.count("difference (expanded - original)") == 2


def test_errors_are_one_line_with_exit_codes(tmp_path: Path, run: Path, expanded: Path) -> None:
    wrong = tmp_path / "wrong"
    shutil.copytree(SAMPLES / "test", wrong)
    shutil.rmtree(wrong / "rectangle")
    damaged = tmp_path / "damaged"
    shutil.copytree(run, damaged, ignore=shutil.ignore_patterns("eval"))
    (damaged / "model.keras").write_bytes(b"not a zip")
    cases = [
        (["fit", str(tmp_path / "missing"), "-o", str(tmp_path / "r1")], 2,
         "training folder not found"),
        (["evaluate", str(run), str(wrong)], 2, "missing rectangle"),
        (["fit", str(SAMPLES / "train"), "-o", str(run)], 2, "--overwrite"),
        (["fit", str(SAMPLES / "train"), "-o", str(tmp_path / "r2"), "--weights", "imagenet"], 2,
         "no pretrained base"),
        (["fit", str(SAMPLES / "train"), "-o", str(tmp_path / "r3"), "--image-size", "big"], 2,
         "--image-size"),
        (["evaluate", str(tmp_path), str(SAMPLES / "test")], 2, "not a run folder"),
        (["evaluate", str(damaged), str(SAMPLES / "test")], 2, "model.keras cannot be loaded"),
        (["predict", str(run), str(tmp_path / "nothing.png")], 2, "image not found"),
        (["compare", str(SAMPLES / "train"), str(expanded), "--test", str(wrong)], 2,
         "missing rectangle"),
    ]
    for args, code, text in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == code, (args, result.output)
        assert result.stderr.startswith("error: ") and text in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_imagenet_offline_is_a_runtime_error_with_a_way_out(tmp_path: Path, monkeypatch) -> None:
    from test_train_models import _online

    if _online():
        pytest.skip("this machine is online: the offline message cannot be provoked")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    result = runner.invoke(app, ["fit", str(SAMPLES / "train"), "-o", str(tmp_path / "r"),
                                 "--model", "vgg16-features", "--image-size", "32"])
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith("error: --weights imagenet: cannot download")
    assert "--weights PATH/" in result.stderr and result.stderr.count("\n") == 1
