"""The `train` command through Typer's CliRunner: fit, evaluate, predict, compare, and errors."""

from __future__ import annotations

import json
import os
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
def fitted(tmp_path_factory: pytest.TempPathFactory, expanded: Path) -> tuple[Path, str]:
    """A run folder, and what `train fit` printed on stdout while writing it."""
    folder = tmp_path_factory.mktemp("runs") / "run"
    result = runner.invoke(app, ["fit", str(expanded), "--out", str(folder), "--epochs", "3",
                                 "--batch-size", "16", "--seed", "1"])
    assert result.exit_code == 0, result.output
    return folder, result.stdout


@pytest.fixture(scope="module")
def run(fitted: tuple[Path, str]) -> Path:
    return fitted[0]


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
    printed = re.search(r"^accuracy: (\S+) \((\d+)/(\d+) images from 15 independent sources\)$",
                        result.stdout, re.MULTILINE)
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
    assert "--weights none" not in result.stderr


def test_fit_and_evaluate_say_what_the_accuracy_rests_on(fitted: tuple[Path, str],
                                                          expanded: Path) -> None:
    """Sources beside images, chance level, and compare's small-test warning (issue 25, point 4)."""
    run, fit_output = fitted
    assert ("split by-source: 144 training images from 36 sources, 9 validation images from 9 "
            "held-out sources") in fit_output
    assert re.search(r"^validation accuracy: \S+ \(\d+/9 images from 9 independent sources\)$",
                     fit_output, re.MULTILINE), fit_output
    chance = "chance level: 0.3333 (majority class rate: always answering circle)"
    assert chance in fit_output
    # 180 images, but 45 sources with 4 files each: the margin rests on the 45
    evaluated = runner.invoke(app, ["evaluate", str(run), str(expanded), "-o",
                                    str(run / "eval-expanded")])
    assert evaluated.exit_code == 0, evaluated.output
    lines = evaluated.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("accuracy: "))
    assert lines[at].endswith("/180 images from 45 independent sources)")
    assert lines[at + 1] == chance
    assert lines[at + 2].startswith(f"warning: {expanded}: 180 images from 45 independent "
                                    f"sources, so each image is worth 0.56 points")
    assert "±14.6 points" in lines[at + 2]  # 1.96 x 50 / sqrt(45), not / sqrt(180)
    metrics = json.loads((run / "eval-expanded/metrics.json").read_text())
    assert metrics["sources"] == 45 and metrics["chance_level"]["accuracy"] == pytest.approx(1 / 3)


def test_evaluate_and_predict_json_is_one_document(run: Path) -> None:
    evaluated = runner.invoke(app, ["evaluate", str(run), str(SAMPLES / "test"), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads(evaluated.stdout)
    saved = json.loads((run / "eval/test/metrics.json").read_text())
    assert report["accuracy"] == saved["accuracy"] and report["sources"] == 15
    assert report["results"] == str(run / "eval" / "test") and "predictions" not in report
    assert report["warning"] is not None and "±25.3 points" in report["warning"]
    predicted = runner.invoke(app, ["predict", str(run), str(SAMPLES / "test"), "--json"])
    assert len(json.loads(predicted.stdout)) == 15


def test_predict_takes_folders(tmp_path: Path, run: Path) -> None:
    """Every image of a folder, recursively, in sorted order (issue 25, point 7)."""
    folder = SAMPLES / "test"
    files = sorted(p for p in folder.rglob("*.png"))
    by_folder = runner.invoke(app, ["predict", str(run), str(folder)])
    assert by_folder.exit_code == 0, by_folder.output
    by_file = runner.invoke(app, ["predict", str(run), *map(str, files)])
    assert by_folder.stdout == by_file.stdout
    assert [line.split("\t")[0] for line in by_folder.stdout.splitlines()] == list(map(str, files))
    (tmp_path / "empty" / "inner").mkdir(parents=True)
    (tmp_path / "empty" / "inner" / "notes.txt").write_text("no image here")
    empty = runner.invoke(app, ["predict", str(run), str(tmp_path / "empty")])
    assert empty.exit_code == 2 and empty.stderr.count("\n") == 1
    assert "holds no png, jpeg, gif or bmp image" in empty.stderr


def test_vgg16_refuses_a_frozen_random_base(tmp_path: Path) -> None:
    """--weights none on a VGG16 model stops at once with one line (issue 25, point 3)."""
    for model in ("vgg16-features", "vgg16-finetune"):
        result = runner.invoke(app, ["fit", str(SAMPLES / "train"), "-o", str(tmp_path / model),
                                     "--model", model, "--weights", "none", "--image-size", "32",
                                     "--epochs", "1"])
        assert result.exit_code == 2, result.output
        assert result.stderr.count("\n") == 1 and "learns nothing" in result.stderr
        assert "--model scratch224" in result.stderr and not (tmp_path / model).exists()


def test_version() -> None:
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"train {version('expand-images')} ")
    assert f"keras {version('keras')}" in result.stdout


@pytest.mark.parametrize("command", [[], ["fit"], ["evaluate"], ["predict"], ["compare"]])
def test_help_is_plain_in_80_columns_with_panels(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert not re.search("[\u2500-\u257f\x1b]", text), text  # no box drawing, no escapes
    assert max(map(len, text.splitlines())) <= 80
    if command in ([], ["fit"]):
        assert "Examples:\n\n    train fit " in text
    if command in (["fit"], ["compare"]):
        panels = re.findall(r"^(\w+):$", text, re.MULTILINE)
        assert panels == ["Arguments", "Model", "Training", "Validation", "Output", "Options"]


def _train(*args: str, stdout: int = subprocess.PIPE,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """`python -m train ARGS` in a fresh process, stdout a pipe: what `train … | cat` sees."""
    result = subprocess.run([sys.executable, "-m", "train", *args], cwd=ROOT, stdout=stdout,
                            stderr=subprocess.PIPE, timeout=600, check=False,
                            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


@pytest.mark.slow
def test_piped_output_is_plain_and_json_is_alone(tmp_path: Path, expanded: Path) -> None:
    """`train fit … | cat`: no escapes, backspaces or carriage returns, no TensorFlow start-up
    lines; each command's --json is one document on stdout (issue 25, point 2)."""
    plain = _train("fit", str(SAMPLES / "train"), "-o", str(tmp_path / "plain"), "--epochs", "2",
                   "--batch-size", "16")
    for stream in (plain.stdout, plain.stderr):
        assert not any(code in stream for code in (b"\x1b", b"\b", b"\r")), stream
    text = plain.stdout.decode()
    assert re.search(r"^epoch 1/2: accuracy \S+, loss \S+, val_accuracy \S+, val_loss \S+$", text,
                     re.MULTILINE), text
    assert "validation accuracy: " in text and "chance level: " in text
    assert b"oneDNN" not in plain.stderr and b"absl" not in plain.stderr, plain.stderr

    run = tmp_path / "json"
    fitted = _train("fit", str(SAMPLES / "train"), "-o", str(run), "--epochs", "2",
                    "--batch-size", "16", "--json")
    report = json.loads(fitted.stdout)
    assert report["run_dir"] == str(run) and len(report["history"]["loss"]) == 2
    assert report["validation"]["sources"] == 9 and report["split"]["train_sources"] == 36
    assert fitted.stderr.decode().count("epoch ") == 2  # progress beside, not inside, the JSON
    evaluated = json.loads(_train("evaluate", str(run), str(SAMPLES / "test"), "--json").stdout)
    assert evaluated["images"] == 15
    predicted = json.loads(_train("predict", str(run), str(SAMPLES / "test" / "circle"),
                                  "--json").stdout)
    assert [Path(p["image"]).parent.name for p in predicted] == ["circle"] * 5
    compared = json.loads(_train("compare", str(SAMPLES / "train"), str(expanded), "--test",
                                 str(SAMPLES / "test"), "--seeds", "1", "--epochs", "1",
                                 "--json").stdout)
    assert compared["tests"][0]["sources"] == 15


@pytest.mark.slow
def test_keras_progress_bar_only_on_a_colour_terminal(tmp_path: Path) -> None:
    """On a terminal Keras draws its bar; NO_COLOR (any non-empty value) gets plain lines."""
    import pty

    inherited = {name: value for name, value in os.environ.items() if name != "NO_COLOR"}

    def on_a_terminal(name: str, env: dict[str, str]) -> bytes:
        leader, follower = pty.openpty()
        with subprocess.Popen([sys.executable, "-m", "train", "fit", str(SAMPLES / "train"),
                               "-o", str(tmp_path / name), "--epochs", "1", "--val-fraction",
                               "0"], cwd=ROOT, stdout=follower, stderr=subprocess.DEVNULL,
                              env={**inherited, "PYTHONPATH": str(ROOT), **env}) as process:
            os.close(follower)
            seen = b""
            while True:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:  # the terminal is closed once the process exits
                    break
                if not chunk:
                    break
                seen += chunk
            assert process.wait(timeout=600) == 0, seen
        os.close(leader)
        return seen

    bar = on_a_terminal("bar", {})
    plain = on_a_terminal("plain", {"NO_COLOR": "1"})
    assert b"\x1b[" in bar and b"epoch 1/1:" not in bar
    assert b"\x1b" not in plain and b"\b" not in plain and b"epoch 1/1: accuracy " in plain
