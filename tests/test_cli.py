"""The `expand` command as a user runs it: dispatch, exit codes, messages, coreutils hand-over."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import snapshot

SCRIPT = Path(sys.executable).with_name("expand")
COREUTILS = shutil.which("expand", path="/usr/local/bin:/usr/bin:/bin")


def expand(*args: str | Path, stdin: bytes | None = None, script: bool = False,
           ) -> subprocess.CompletedProcess[str]:
    """Run the installed console script (`script`) or `python -m expand`."""
    command = [str(SCRIPT)] if script else [sys.executable, "-m", "expand"]
    return subprocess.run([*command, *map(str, args)], input=None if stdin is None else
                          stdin.decode(), capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL if stdin is None else None)


def test_main_job_summary_reports_the_worker_count_asked(samples_train: Path,
                                                          tmp_path: Path) -> None:
    outputs = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        done = expand(samples_train, "--copies", "3", "--out", out, "--workers", workers,
                      "--json", "--rotation-range", "30", "--zoom_range", "0.2")
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        assert summary["workers"] == workers and summary["images_written"] == 45 * 3
        assert summary["executor"] == ("serial" if workers == 1 else "process-pool")
        outputs[workers] = snapshot(out)
    assert outputs[1] == outputs[2]


def test_default_preset_is_announced(samples_train: Path, tmp_path: Path) -> None:
    done = expand(samples_train, "--copies", "1", "--out", tmp_path / "o")
    assert done.returncode == 0
    assert "using preset 'default'" in done.stderr
    assert "wrote 45 images from 45 sources" in done.stdout


def test_counts_of_one_are_singular(samples_train: Path, tmp_path: Path) -> None:
    """One source, one copy, one worker: "1 image from 1 source", not "1 images from 1 sources"."""
    (tmp_path / "src" / "a").mkdir(parents=True)
    shutil.copy(sorted((samples_train / "circle").iterdir())[0], tmp_path / "src" / "a")
    dry = expand(tmp_path / "src", "--copies", "1", "--out", tmp_path / "o", "--dry-run")
    assert dry.returncode == 0 and "would write 1 image from 1 source to " in dry.stdout
    done = expand(tmp_path / "src", "--copies", "1", "--out", tmp_path / "o", "--workers", "1")
    assert done.returncode == 0, done.stderr
    assert "wrote 1 image from 1 source to " in done.stdout and "serial, 1 worker)" in done.stdout


@pytest.mark.parametrize("args, code, message", [
    (["{missing}", "--out", "{out}"], 2, "no such folder"),
    (["{file}", "--copies", "2", "--out", "{out}"], 2, "is a file"),
    (["{src}", "--out", "{out}", "--rescale", "0.5"], 2, "does not belong to offline expansion"),
    (["{src}", "--out", "{out}", "--fill-mode", "mirror"], 2, "fill_mode: expected one of"),
    (["{src}", "--out", "{out}", "--zoom-range", "1.2,0.8"], 2, "zoom_range"),
    (["{src}", "--out", "{out}", "--width-shift-range", "abc"], 2, "width_shift_range"),
    (["{src}", "--out", "{src}/x"], 2, "inside the source folder"),
    (["{src}", "--out", "{out}", "--preset", "nope"], 2, "unknown preset"),
    (["preview", "{src}"], 2, "Missing option"),
    (["replay", "{src}", "x.png"], 2, "no run.json of expand here"),
])
def test_user_mistakes_are_one_line_errors(samples_train: Path, tmp_path: Path,
                                           args: list[str], code: int, message: str) -> None:
    src = tmp_path / "src"
    shutil.copytree(samples_train, src)
    before = snapshot(src)
    (tmp_path / "f.txt").write_text("x")
    fill = {"missing": tmp_path / "nope", "file": tmp_path / "f.txt", "out": tmp_path / "out",
            "src": src}
    done = expand(*[a.format(**fill) for a in args])
    assert done.returncode == code
    assert message in done.stderr and "Traceback" not in done.stderr
    assert snapshot(src) == before
    assert not (tmp_path / "out").exists()


def test_a_bad_file_is_skipped_and_the_run_exits_1(samples_train: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(samples_train, src)
    (src / "circle" / "broken.png").write_bytes(b"not a png at all")
    done = expand(src, "--copies", "2", "--out", tmp_path / "out")
    assert done.returncode == 1
    assert "skipped circle/broken.png" in done.stderr and "Traceback" not in done.stderr
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert [s["source"] for s in run["skipped"]] == ["circle/broken.png"]
    assert run["counts"]["images"] == 45 * 2


def test_help_and_version() -> None:
    done = expand("--help")
    assert done.returncode == 0
    for name in ("--rotation-range", "--width-shift-range", "--copies", "Exit codes", "coreutils"):
        assert name in done.stdout
    version = expand("--version")
    assert version.returncode == 0 and version.stdout.startswith("expand ")


needs_coreutils = pytest.mark.skipif(COREUTILS is None, reason="coreutils' expand not installed")


@needs_coreutils
@pytest.mark.parametrize("args", [["-t", "4", "{file}"], ["--tabs=2", "{file}"], ["{file}"],
                                  ["-i", "{file}"], ["-t", "4", "{missing}"]])
def test_coreutils_calls_are_handed_over(tmp_path: Path, args: list[str]) -> None:
    text = tmp_path / "tabs.txt"
    text.write_text("a\tb\n\tc\td\n")
    argv = [a.format(file=text, missing=tmp_path / "missing.txt") for a in args]
    ours = expand(*argv, script=True)
    theirs = subprocess.run([COREUTILS, *argv], capture_output=True, text=True,  # type: ignore[list-item]
                            stdin=subprocess.DEVNULL)
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout)
    assert ours.stderr.replace(str(SCRIPT), "expand").endswith(
        theirs.stderr.replace(COREUTILS, "expand").split(":", 1)[-1])  # type: ignore[arg-type]


@needs_coreutils
def test_piped_standard_input_is_handed_over() -> None:
    for script in (True, False):
        done = expand(stdin=b"a\tb\n", script=script)
        assert (done.returncode, done.stdout) == (0, "a       b\n")


def test_a_dataset_call_with_piped_stdin_runs_this_tool(samples_train: Path,
                                                        tmp_path: Path) -> None:
    done = expand(samples_train, "--copies", "1", "--out", tmp_path / "o", stdin=b"a\tb\n",
                  script=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "o" / "metadata.jsonl").is_file()


def test_no_other_expand_on_path_is_a_clear_error(tmp_path: Path) -> None:
    text = tmp_path / "t.txt"
    text.write_text("a\tb\n")
    env = {**os.environ, "PATH": str(SCRIPT.parent)}
    done = subprocess.run([str(SCRIPT), "-t", "4", str(text)], capture_output=True, text=True,
                          env=env, stdin=subprocess.DEVNULL)
    assert done.returncode == 1 and "no other expand is on PATH" in done.stderr


def test_the_summary_reports_balance_and_identical_outputs(samples_train: Path,
                                                           tmp_path: Path) -> None:
    done = expand(samples_train, "--per-class-target", "20", "--preset", "none", "--out",
                  tmp_path / "o", "--workers", "1")
    assert done.returncode == 0, done.stderr
    assert "per class (target 20): circle: 20, rectangle: 20, triangle: 20" in done.stdout
    assert "identical outputs: 30 files in 15 groups" in done.stdout  # 5 doubled sources a class
    assert "copies identical to their source: 60" in done.stdout
    both = expand(samples_train, "--per-class-target", "20", "--copies", "2", "--out",
                  tmp_path / "p")
    assert both.returncode == 2 and "--copies and --per-class-target" in both.stderr


def test_the_worker_server_starts_only_for_a_local_pool() -> None:
    from expand.launch import _pool_size

    assert _pool_size(["data", "--out", "aug", "--workers", "2"]) == 2
    assert _pool_size(["data", "--out", "aug", "--workers=3"]) == 3
    assert _pool_size(["data", "--out", "aug", "--workers", "1"]) is None
    assert _pool_size(["data", "--out", "aug", "--workers", "2", "--scheduler", "local"]) is None
    assert _pool_size(["data", "--out", "aug", "--scheduler=tcp://h:8786"]) is None
    assert _pool_size(["preview", "data", "--out", "sheet.png"]) is None


_BLAS_PROBE = """
import os, sys
sys.argv = ["expand", "--version"]
from expand.launch import main
try:
    main()
except SystemExit:
    pass
import cv2, numpy
print(os.environ.get("OPENBLAS_NUM_THREADS"), len(os.listdir("/proc/self/task")))
"""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads in Linux's /proc")
def test_the_command_runs_openblas_on_one_thread_unless_the_user_set_it() -> None:
    """NumPy's and OpenCV's OpenBLAS would each start a thread that spins beside the workers
    (launch._one_blas_thread): after the command's first step they import with no thread."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}

    def probe(**extra: str) -> list[str]:
        done = subprocess.run([sys.executable, "-c", _BLAS_PROBE], env={**env, **extra},
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()[-1].split()

    assert probe() == ["1", "1"]  # the variable set, and no thread but the main one
    assert probe(OPENBLAS_NUM_THREADS="2")[0] == "2"  # the user's own setting is kept
