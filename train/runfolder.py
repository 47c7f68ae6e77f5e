"""The run folder's layout: artifact names, its run.json, and safe JSON writes."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from train.config import COLOR_MODES, ColorMode
from train.errors import RunFolderError

RUN_FILE = "run.json"
MODEL_FILE = "model.keras"
BEST_MODEL_FILE = "best.keras"
HISTORY_FILE = "history.json"
CURVES_FILE = "learning_curves.png"
METRICS_FILE = "metrics.json"
CONFUSION_FILE = "confusion_matrix.png"
REPORT_FILE = "classification_report.txt"
VAL_FOLDER = "val"
EVAL_FOLDER = "eval"
ARTIFACTS = (RUN_FILE, MODEL_FILE, BEST_MODEL_FILE, HISTORY_FILE, CURVES_FILE, VAL_FOLDER,
             EVAL_FOLDER)


def write_json(path: Path, data: Any) -> None:
    """Write via a temporary file and rename, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def prepare(run_dir: Path, overwrite: bool) -> None:
    """Create `run_dir`, refusing to mix a new run into an old one.

    With `overwrite`, the previous run's artifacts are removed (a stale best.keras or eval/
    would otherwise pass for the new run's); other files are left alone.

    Raises:
        RunFolderError: `run_dir` is a file, or a non-empty folder and `overwrite` is False.
    """
    if run_dir.exists() and not run_dir.is_dir():
        raise RunFolderError(f"run folder {run_dir} is a file")
    if run_dir.is_dir() and any(run_dir.iterdir()):
        if not overwrite:
            raise RunFolderError(f"run folder {run_dir} is not empty; choose another --out or "
                                 f"pass --overwrite")
        for name in ARTIFACTS:
            path = run_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    run_dir.mkdir(parents=True, exist_ok=True)


@dataclass(frozen=True)
class RunInfo:
    """What evaluating or predicting needs from a finished run."""

    run_dir: Path
    class_names: tuple[str, ...]
    image_size: tuple[int, int]
    color_mode: ColorMode

    @property
    def model_path(self) -> Path:
        return self.run_dir / MODEL_FILE

    @classmethod
    def read(cls, run_dir: Path) -> RunInfo:
        """Read `run_dir/run.json` and check the model file is there.

        Raises:
            RunFolderError: not a run folder of `train fit`, or an incomplete one.
        """
        path = run_dir / RUN_FILE
        if not path.is_file():
            raise RunFolderError(f"{run_dir} is not a run folder of `train fit` "
                                 f"(no {RUN_FILE})")
        try:
            run = json.loads(path.read_text(encoding="utf-8"))
            model = run["config"]["model"]
            height, width = (int(side) for side in model["image_size"])
            info = cls(run_dir, tuple(str(c) for c in run["class_names"]), (height, width),
                       cast(ColorMode, model["color_mode"]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise RunFolderError(f"{path} is unreadable ({type(error).__name__}: {error})"
                                 ) from error
        if info.color_mode not in COLOR_MODES:
            raise RunFolderError(f"{path}: unknown color_mode {info.color_mode!r}")
        if not info.model_path.is_file():
            raise RunFolderError(f"{run_dir} has no {MODEL_FILE}: the run did not finish")
        return info
