"""Repeat the shapes tutorial's experiment: does training on expanded copies help?

The shared hand-drawn shapes (15 per class to train, 5 per class to test) are expanded with
`python -m expand` (20 copies, preset shapes-tutorial, unless told otherwise), then
`train.compare` trains the tutorial's `shapes` CNN on the original folder and on the expanded
one with K paired seeds, and tests every model on the dataset's own test split and on a harder
set drawn by bench/hard_shapes.py. Prints the table and writes RESULTS/train_compare.json.

    python bench/train_compare.py [--seeds 5] [--epochs 10] [--batch-size 3]
        [--schedule equal-steps] [--out bench/results] [--presets A,B,...]
        [-- EXPAND OPTIONS ...]

`--presets shapes-tutorial,default,line-art` runs the whole comparison once per preset (the
original arm is the same model each time, trained again with the same seeds) and ends with one
Markdown table of all of them (also written to RESULTS/train_compare_<schedule>_presets.md).

Options after `--` go to `expand` (for example `-- --preset default --copies 10`). Needs the
`train` extra; skips with a message when ../shared is absent (a fresh clone has no such folder).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "handwriting_shape"
EXPAND_DEFAULTS = ["--copies", "20", "--seed", "0", "--preset", "shapes-tutorial"]


def _arguments() -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder with train/ and test/")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=3, help="the tutorial's batch size")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--schedule", choices=("equal-steps", "equal-epochs"),
                        default="equal-steps")
    parser.add_argument("--hard-per-class", type=int, default=300)
    parser.add_argument("--hard-seed", type=int, default=0)
    parser.add_argument("--presets", default=None,
                        help="comma-separated presets, one comparison each, one table at the end")
    argv = sys.argv[1:]
    expand_args = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    return args, expand_args


def main() -> int:
    args, expand_args = _arguments()
    if args.presets is None:
        return _one(args, expand_args, None)[0]
    rows = []
    for name in args.presets.split(","):
        code, results = _one(args, ["--preset", name, *expand_args], name)
        if code != 0 or results is None:
            return code
        rows.append((name, results))
    table = _table(rows)
    print("\n" + table)
    path = args.out / f"train_compare_{args.schedule}_presets.md"
    path.write_text(table + "\n", encoding="utf-8")
    print(f"\nwrote {path}")
    return 0


def _table(rows: list[tuple[str, dict]]) -> str:
    """One Markdown row per preset and test set: accuracy % mean ± std, paired difference, CI."""
    lines = ["| preset | test set | original | expanded (×20) | difference [95% CI] |",
             "|---|---|---|---|---|"]
    for name, results in rows:
        for test in results["tests"]:
            arms = {arm: f"{100 * v['mean']:.2f} ± {100 * (v['std'] or 0):.2f}"
                    for arm, v in test["arms"].items()}
            diff = test["difference"]
            interval = diff["interval"]
            span = "" if interval is None else \
                f" [{100 * interval[0]:+.2f}, {100 * interval[1]:+.2f}]"
            label = "tutorial test split" if "hard_shapes" not in test["test_dir"] else "hard set"
            lines.append(f"| {name} | {label}, {test['images']} images | {arms['original']} | "
                         f"{arms['expanded']} | {100 * diff['mean']:+.2f}{span} |")
    return "\n".join(lines)


def _one(args: argparse.Namespace, expand_args: list[str],
         name: str | None) -> tuple[int, dict | None]:
    """One comparison; returns the exit code and the results written."""
    if not (args.data / "train").is_dir() or not (args.data / "test").is_dir():
        print(f"skipped: {args.data} not found (the shared handwriting_shape dataset lives "
              f"beside the project as ../shared; a fresh clone does not have it)")
        return 0, None
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notes, one per model
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    from hard_shapes import write_hard_set

    from train import CompareConfig, ModelConfig, TrainError
    from train.compare import ArmRun, compare_datasets, format_comparison

    # Options given after `--` override the defaults (argparse-style: the last one wins).
    expand_options = EXPAND_DEFAULTS + expand_args
    args.out.mkdir(parents=True, exist_ok=True)
    hard = args.out / f"hard_shapes_{args.hard_per_class}_seed{args.hard_seed}"
    if not hard.is_dir():
        write_hard_set(hard, args.hard_per_class, args.hard_seed)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        expanded = Path(work) / "expanded"
        command = [sys.executable, "-m", "expand", str(args.data / "train"), "--out",
                   str(expanded), *expand_options]
        print("$ " + " ".join(command), flush=True)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if subprocess.run(command, cwd=ROOT, env=env, check=False).returncode != 0:
            print("error: expand failed", file=sys.stderr)
            return 3, None
        config = CompareConfig(args.data / "train", expanded, (args.data / "test", hard),
                               ModelConfig("shapes"), args.batch_size, args.epochs, args.lr,
                               args.seeds, 0, args.schedule)

        def progress(run: ArmRun) -> None:
            accs = ", ".join(f"{100 * a:.2f}" for a in run.accuracies)
            print(f"seed {run.seed} {run.arm}: test, hard = {accs} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)

        try:
            comparison = compare_datasets(config, progress)
        except TrainError as error:
            print(f"error: {error}", file=sys.stderr)
            return error.exit_code, None
    print()
    print(format_comparison(comparison))
    import keras
    import tensorflow as tf

    results = {
        **comparison.to_dict(),
        "expand_command": ["python", "-m", "expand", "TRAIN", "--out", "EXPANDED",
                           *expand_options],
        "hard_set": {"folder": str(hard), "per_class": args.hard_per_class,
                     "seed": args.hard_seed},
        "seconds": round(time.perf_counter() - started, 1),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "tensorflow": tf.__version__, "keras": keras.__version__},
    }
    suffix = "" if name is None else f"_{name}"
    path = args.out / f"train_compare_{args.schedule}{suffix}.json"
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {path}")
    return 0, results


if __name__ == "__main__":
    sys.exit(main())
