"""What a run prints about itself (issue 25, points 6 and 7): a rerun with nothing to do says so,
the summary counts sources as run.json does, and --format webp is warned about."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from expand.cli import app
from tests.conftest import SAMPLES

runner = CliRunner()
ARGS = ["--copies", "2", "--rotation-range", "10", "--workers", "1"]


def _run(src: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["run", str(src), "--out", str(out), *ARGS, *extra])
    return result.exit_code, result.stdout, result.stderr


def test_a_rerun_with_nothing_to_do_says_so(tmp_path: Path) -> None:
    out = tmp_path / "aug"
    code, first, _ = _run(SAMPLES / "train", out)
    assert code == 0 and first.startswith("wrote 90 images from 45 sources")
    code, again, _ = _run(SAMPLES / "train", out)
    assert code == 0
    assert again.splitlines()[0] == f"nothing to do: 90 images already there in {out} (from 45 " \
        "sources)"
    assert "wrote 0" not in again and "images/s" not in again
    code, more, _ = _run(SAMPLES / "train", out, "--copies", "3")  # the last --copies wins
    assert code == 0 and more.startswith("wrote 45 images from 45 sources")


def test_the_summary_counts_the_sources_that_run_json_counts(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(SAMPLES / "train", src)
    (src / "circle" / "empty.png").write_bytes(b"")  # skipped: counted in neither
    out = tmp_path / "aug"
    code, printed, errors = _run(src, out)
    assert code == 1 and "skipped circle/empty.png: empty file" in errors
    counts = json.loads((out / "run.json").read_text())["counts"]
    assert counts["sources"] == 45 and counts["skipped"] == 1
    assert printed.startswith("wrote 90 images from 45 sources") and "skipped: 1" in printed
    code, as_json, _ = _run(src, tmp_path / "aug2", "--json")
    assert code == 1 and json.loads(as_json)["sources"] == counts["sources"]


def test_format_webp_warns_that_keras_skips_it(tmp_path: Path) -> None:
    code, _, errors = _run(SAMPLES / "train", tmp_path / "webp", "--format", "webp", "--quiet")
    assert code == 0
    warned = [line for line in errors.splitlines() if "WebP" in line]
    assert warned == [("expand: warning: --format webp: Keras's image_dataset_from_directory "
                       "skips WebP files (it reads bmp, gif, jpeg and png)")]
    code, _, errors = _run(SAMPLES / "train", tmp_path / "png", "--format", "png", "--quiet")
    assert code == 0 and "WebP" not in errors
