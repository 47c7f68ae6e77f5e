"""What pinning sources by SHA-256 costs, against the work it guards (issue 21).

Per benchmark case, in this one process: the SHA-256 a worker now takes of each source's bytes
(already read for decoding) against that source's task (decode, warp, encode, write: the case's
copies, preset shapes-tutorial as bench/run.py runs it); and, for an update that keeps every
output, the read and hash of each source the plan adds against the check of every kept output
it already made. A benchmark, not a test: run it beside bench/run.py, on the same machine.

    python -m bench.hash_cost [--data DIR] [--cases W1,W2-png,W2-jpeg,W3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import tempfile
import time
from pathlib import Path

from bench.run import CASES, QUALITY, Case
from bench.workloads import make
from expand.config import PRESETS, AugmentConfig, ExpandConfig
from expand.io.discover import discover
from expand.io.storage import open_store
from expand.run.worker import Task, process_source


def _measure(case: Case, src: Path, out: Path) -> dict[str, float]:
    config = ExpandConfig(src=src, out=out, copies=case.copies,
                          image_format=case.fmt,  # type: ignore[arg-type]
                          quality=QUALITY, preset="shapes-tutorial",
                          augment=AugmentConfig.from_keras(**PRESETS["shapes-tutorial"]))
    sources = discover(src).sources
    rows: list[dict[str, object]] = []
    hashing = task = 0.0
    for source in sources:
        data = (src / source.rel_path).read_bytes()
        started = time.perf_counter()
        hashlib.sha256(data).hexdigest()
        hashing += time.perf_counter() - started
        started = time.perf_counter()
        result = process_source(Task(source, config, tuple(range(case.copies)), False, True))
        task += time.perf_counter() - started
        rows += (json.loads(line) for _, line in result.rows)
    started = time.perf_counter()
    for source in sources:
        hashlib.sha256((src / source.rel_path).read_bytes()).hexdigest()
    plan_sources = time.perf_counter() - started
    store = open_store(out)
    started = time.perf_counter()
    store.intact(rows)
    plan_outputs = time.perf_counter() - started
    return {"hash_ms": hashing * 1e3, "task_ms": task * 1e3,
            "plan_sources_ms": plan_sources * 1e3, "plan_outputs_ms": plan_outputs * 1e3}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("bench/data"))
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"{'case':8} {'hash ms':>9} {'task ms':>9} {'share':>7}   "
          f"{'plan: sources ms':>16} {'outputs ms':>10} {'share':>7}")
    for name in args.cases.split(","):
        case = CASES[name]
        src = make(case.workload, args.data)
        runs = []
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory() as temp:
                runs.append(_measure(case, src, Path(temp) / "out"))
        m = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        print(f"{name:8} {m['hash_ms']:9.2f} {m['task_ms']:9.1f} "
              f"{100 * m['hash_ms'] / m['task_ms']:6.2f}%   {m['plan_sources_ms']:16.2f} "
              f"{m['plan_outputs_ms']:10.2f} "
              f"{100 * m['plan_sources_ms'] / m['plan_outputs_ms']:6.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
