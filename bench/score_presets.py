"""Score expansion settings on drawings by other people with the fixed recipe (issue 23).

Each candidate expands the 45 tutorial shapes (../shared/datasets/handwriting_shape/train) with
--include-originals at 3 expansion seeds; ../shared/tools/score_drawings.py trains its CNN with
5 training seeds on each expansion and tests it. The 15 accuracies are pooled: their mean with a
95 % interval (Student's t over the 15), and the paired difference from `shapes-tutorial@20`
(or `--against CANDIDATE`; paired by expansion seed and training seed) with its 95 % interval.

    nice -n 5 python bench/score_presets.py CANDIDATE... [--people first|second] [--procedural]

A CANDIDATE is `originals`, `PRESET@COPIES` (`line-art@100`) or `CONFIG.toml@COPIES`.
`--people first|second`: the drawings of the first or second 10 people of hds_dev in sorted
user-id order (the middle part of a file name); choose settings on the first, report on the
second. `--procedural`: the off-centre set of bench/offcentre_shapes.py (300 drawings, seed 23).
hds_dev is only ever a test set.

The recipe's model depends only on the training folder and the seed, so one training is tested
on every test set at once: the script is run as it is, and its `evaluate` call also evaluates the
other sets (loaded with its own `load`). Only the sets asked for are printed; results are kept in
WORK/scores.json keyed by the candidate's resolved settings, copies, seed and set, so a candidate
already scored is not trained again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
TRAIN = SHARED / "datasets" / "handwriting_shape" / "train"
HDS = SHARED / "datasets" / "hds_dev"
SCORER = SHARED / "tools" / "score_drawings.py"
EXPANSION_SEEDS = (0, 1, 2)
TRAINING_SEEDS = 5
BASELINE = "shapes-tutorial@20"
SETS = ("first", "second", "procedural")
#: Student's t, two-sided 95 %, for n - 1 = 14 degrees of freedom (15 pooled accuracies).
T_975 = {14: 2.1448, 4: 2.7764, 2: 4.3027, 9: 2.2622}

#: Run by `python -c` in a fresh interpreter: the fixed recipe, with each evaluate also run on
#: the extra test sets (same model, same classes, the recipe's own loader).
_HOOK = r"""
import json, runpy, sys
from pathlib import Path
import keras
script, train, test, seeds, extra, sink = sys.argv[1:7]
extra = json.loads(extra)
found = {name: [] for name in extra}
original = keras.Model.evaluate
def evaluate(self, x, y, *args, **kwargs):
    result = original(self, x, y, *args, **kwargs)
    caller = sys._getframe(1).f_globals
    for name, folder in extra.items():
        xe, ye, _ = caller["load"](Path(folder), caller["classes"])
        found[name].append(float(original(self, xe, ye, verbose=0)[1]))
    return result
keras.Model.evaluate = evaluate
sys.argv = [script, train, test, seeds]
runpy.run_path(script, run_name="__main__")
Path(sink).write_text(json.dumps(found))
"""


def _people(half: str) -> list[str]:
    users = sorted({p.name.split(".")[1] for p in HDS.glob("*/*.png")})
    return users[:10] if half == "first" else users[10:]


def _test_sets(work: Path) -> dict[str, Path]:
    """first/second: hds_dev's files of that half of the people; procedural: the generated set."""
    sets = {}
    for half in ("first", "second"):
        folder = work / "tests" / half
        if not folder.exists():
            people = set(_people(half))
            for path in sorted(HDS.glob("*/*.png")):
                if path.name.split(".")[1] in people:
                    (folder / path.parent.name).mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, folder / path.parent.name / path.name)
        sets[half] = folder
    procedural = work / "tests" / "procedural"
    if not procedural.exists():
        sys.path.insert(0, str(ROOT))
        from bench.offcentre_shapes import write_set

        write_set(procedural, 100, 23)
    sets["procedural"] = procedural
    return sets


def _settings(candidate: str) -> tuple[str, int, dict[str, Any]]:
    """(name, copies, what decides the expansion: the resolved settings)."""
    if candidate == "originals":
        return candidate, 0, {}
    name, _, copies = candidate.rpartition("@")
    if not name or not copies.isdigit():
        raise SystemExit(f"error: {candidate!r}: expected originals, PRESET@COPIES or "
                         "CONFIG.toml@COPIES")
    sys.path.insert(0, str(ROOT))
    from expand.config import resolve_config

    config_file = Path(name) if name.endswith((".toml", ".json")) else None
    config = resolve_config(TRAIN, ROOT, cli_run={}, cli_augment={},
                            preset_name=None if config_file else name, config_file=config_file)
    return name, int(copies), config.augment.to_dict()


def _key(settings: dict[str, Any], copies: int, seed: int) -> str:
    text = json.dumps([settings, copies, seed], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _expand(name: str, copies: int, seed: int, out: Path) -> Path:
    if copies == 0:
        return TRAIN
    if out.exists():
        shutil.rmtree(out)
    option = ["--config", name] if name.endswith((".toml", ".json")) else ["--preset", name]
    subprocess.run([sys.executable, "-m", "expand", str(TRAIN), "--out", str(out), "--copies",
                    str(copies), "--seed", str(seed), "--include-originals", "--workers", "1",
                    *option], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    return out


def _score(train: Path, sets: dict[str, Path], work: Path) -> dict[str, list[float]]:
    """The recipe's per-seed accuracies on every set, from one training per seed."""
    first, *rest = sets
    sink = work / f"found-{os.getpid()}.json"
    done = subprocess.run(
        [sys.executable, "-c", _HOOK, str(SCORER), str(train), str(sets[first]),
         str(TRAINING_SEEDS), json.dumps({k: str(sets[k]) for k in rest}), str(sink)],
        check=True, capture_output=True, text=True)
    line = next(x for x in done.stdout.splitlines() if x.startswith("per seed:"))
    found: dict[str, list[float]] = json.loads(sink.read_text())
    found[first] = [float(v) for v in line.split(":")[1].split()]
    return found


def _save(path: Path, cache: dict[str, Any]) -> None:
    """Merge into what is on disk (another run may have added scores meanwhile)."""
    on_disk = json.loads(path.read_text()) if path.exists() else {}
    cache.update({k: v for k, v in on_disk.items() if k not in cache})
    temp = path.with_suffix(f".{os.getpid()}.tmp")
    temp.write_text(json.dumps(cache, indent=1))
    os.replace(temp, path)


def _interval(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95 % interval (Student's t)."""
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return mean, T_975.get(n - 1, 1.96) * sd / math.sqrt(n)


def _accuracies(candidate: str, work: Path, sets: dict[str, Path],
                cache: dict[str, Any]) -> dict[str, list[float]]:
    """Per set: the 15 accuracies in (expansion seed, training seed) order."""
    name, copies, settings = _settings(candidate)
    pooled: dict[str, list[float]] = {s: [] for s in sets}
    for seed in EXPANSION_SEEDS if copies else (0,):
        key = _key(settings, copies, seed)
        if key not in cache:
            print(f"  training {candidate} expansion seed {seed}", file=sys.stderr, flush=True)
            train = _expand(name, copies, seed, work / f"expanded-{os.getpid()}")
            cache[key] = {"candidate": candidate, "seed": seed, **_score(train, sets, work)}
            _save(work / "scores.json", cache)
        for s in sets:
            pooled[s] += cache[key][s]
    if not copies:  # the originals: one training set, the 5 seeds stand for every pairing
        pooled = {s: v * len(EXPANSION_SEEDS) for s, v in pooled.items()}
    return pooled


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidates", nargs="+")
    parser.add_argument("--people", choices=("first", "second"), default=None)
    parser.add_argument("--procedural", action="store_true")
    parser.add_argument("--against", default=BASELINE, help="the paired baseline")
    parser.add_argument("--work", type=Path, default=Path("/tmp/score_presets"))
    args = parser.parse_args()
    if not SCORER.exists():
        print(f"skipped: {SCORER} is absent (a fresh clone has no ../shared)", file=sys.stderr)
        return 0
    shown = ([args.people] if args.people else []) + (["procedural"] if args.procedural else [])
    if not shown:
        parser.error("give --people first|second and/or --procedural")
    args.work.mkdir(parents=True, exist_ok=True)
    sets = _test_sets(args.work)
    cache_file = args.work / "scores.json"
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    baseline = _accuracies(args.against, args.work, sets, cache)
    print(f"| candidate | set | mean (95% CI) | vs {args.against} (95% CI) |")
    print("|---|---|---|---|")
    for candidate in args.candidates:
        found = _accuracies(candidate, args.work, sets, cache)
        for s in shown:
            mean, half = _interval(found[s])
            diff, dhalf = _interval([a - b for a, b in zip(found[s], baseline[s])])
            print(f"| {candidate} | {s} | {mean:.3f} ± {half:.3f} | {diff:+.3f} ± {dhalf:.3f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
