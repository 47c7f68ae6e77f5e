"""How quickly `expand --help` answers (issue: under half a second on a 2-core machine).

Runs `expand --help` and, for scale, a bare `python -c pass`, round-robin, and prints medians and
their ratio. A benchmark, not a test: these machines are shared and noisy.

    python bench/cli_startup.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_S = 0.5


def _time(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    script = shutil.which("expand", path=str(Path(sys.executable).parent)) or "expand"
    commands = {"expand --help": [script, "--help"],
                "python -m expand --help": [sys.executable, "-m", "expand", "--help"],
                "python -c pass": [sys.executable, "-c", "pass"]}
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.rounds):
        for name, command in commands.items():
            times[name].append(_time(command))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, median in medians.items():
        print(f"{name:26s} median {median * 1000:6.0f} ms over {args.rounds} rounds")
    help_s = medians["expand --help"]
    print(f"expand --help: {help_s:.3f} s ({'meets' if help_s < TARGET_S else 'misses'} the "
          f"{TARGET_S} s target); {help_s / medians['python -c pass']:.1f}x a bare interpreter; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(json.dumps({"median_s": medians, "target_s": TARGET_S}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
