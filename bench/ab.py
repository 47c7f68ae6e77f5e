"""`expand` before and after a change, in one run on the same machine: the code of a git revision
(checked out into a temporary worktree) against the working tree, interleaved round by round, on
the benchmark's workloads. A change that should cost nothing is shown to, within the noise that
the rounds' spread shows; the ratio is after / before of the work time `expand --json` reports.

    PYTHONPATH=. python -m bench.ab REV [--cases W1,W2-png,W2-jpeg,W3] [--rounds 5] [--workers 2]

Needs only the main install (no anchors). Output files are compared too: a change that keeps the
bytes must give identical images.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from bench import workloads
from bench.run import CASES, RESULTS, Case, command

ROOT = Path(__file__).resolve().parents[1]


def _run(code: Path, case: Case, src: Path, out: Path, workers: int) -> tuple[float, str]:
    """(work seconds, a digest of every image written) of one run of the code at `code`."""
    shutil.rmtree(out, ignore_errors=True)
    argv = command(f"expand-{workers}", case, src, out)
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run(argv, cwd=code, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, check=True)
    digest = hashlib.sha256()
    for path in sorted(out.rglob("*")):
        if path.is_file() and path.suffix in (".png", ".jpg", ".jpeg"):
            digest.update(path.relative_to(out).as_posix().encode() + path.read_bytes())
    shutil.rmtree(out, ignore_errors=True)
    return float(json.loads(done.stdout)["elapsed_s"]), digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rev", help="the git revision to compare with (e.g. main~3)")
    parser.add_argument("--cases", default="W1,W2-png,W2-jpeg,W3")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", type=Path, default=RESULTS / "data")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="expand-ab-"))
    before = scratch / "before"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(before),
                    args.rev], check=True)
    try:
        print("| case | before (s, median) | after (s, median) | after / before | rounds | "
              "same images |\n|---|---|---|---|---|---|")
        for name in args.cases.split(","):
            case = CASES[name]
            src = workloads.make(case.workload, args.data)
            times: dict[str, list[float]] = {"before": [], "after": []}
            digests: dict[str, set[str]] = {"before": set(), "after": set()}
            ratios = []
            for round_ in range(args.rounds):
                # Alternate which goes first: the second of a pair meets a warmer page cache.
                order = [("before", before), ("after", ROOT)]
                for label, code in order if round_ % 2 == 0 else order[::-1]:
                    seconds, digest = _run(code, case, src, scratch / "out", args.workers)
                    times[label].append(seconds)
                    digests[label].add(digest)
                ratios.append(times["after"][-1] / times["before"][-1])
            same = digests["before"] == digests["after"] and len(digests["after"]) == 1
            print(f"| {name} | {statistics.median(times['before']):.3f} | "
                  f"{statistics.median(times['after']):.3f} | "
                  f"{statistics.median(ratios):.3f} ({min(ratios):.2f}-{max(ratios):.2f}) | "
                  f"{args.rounds} | {'yes' if same else 'NO'} |", flush=True)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)],
                       check=False)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
