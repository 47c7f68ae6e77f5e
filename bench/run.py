"""Run `expand` and its anchors round-robin on W1, W2 (PNG and JPEG output) and W3; print a table
of images/s, bytes per file, peak RSS and the ratios of `expand` (2 workers) to each of the others;
write them as JSON; check that 10x more sources leave peak memory flat.

    PYTHONPATH=. python -m bench.run [--rounds 3] [--cases W1,W2-png,W2-jpeg,W3] [--keras-w3]

Needs the bench extra (`pip install -e ".[bench]"`: TensorFlow, Albumentations). Every run is a
fresh process. Two times are kept for each: `work`, from the method's libraries imported to its
last file written (for `expand`, the `elapsed_s` it reports: discovery, pool start-up with the
workers' own imports, the manifest: everything but the interpreter start and the main process's
imports), and `wall`, the whole command as a user waits for it, imports included (TensorFlow's
alone take 2-4 s). Ratios are taken per round, then the median over rounds. Peak RSS is the
largest sum of RSS over the process tree, sampled every 50 ms (shared pages count once per
process; the sampling thread takes about 1% of a core, 5% at 20 ms, and only from the methods
that keep both cores busy); CPU is the user + system time of all processes of the tree, which
other programs' load inflates far less than elapsed time.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import workloads

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
QUALITY = 75  # Keras's tutorial loop cannot change it: every method writes JPEG at 75


@dataclass(frozen=True)
class Case:
    name: str
    workload: str
    fmt: str
    copies: int


CASES = {
    "W1": Case("W1", "W1", "png", 20),
    "W2-png": Case("W2-png", "W2", "png", 10),
    "W2-jpeg": Case("W2-jpeg", "W2", "jpeg", 10),
    "W3": Case("W3", "W3", "jpeg", 10),
}
METHODS = ("expand-2", "expand-1", "keras", "albumentations", "floor", "floor-1", "expand-2-q90")
# expand-2-q90: expand at its own default JPEG quality (90), for the file sizes a user gets without
# --quality; JPEG cases only. Everything else writes JPEG at 75, which Keras cannot change.
# floor-1: the floor in one process, on W3 only: what a second process gives the minimal script,
# the yardstick for the one target on scaling (2 workers against 1).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def command(method: str, case: Case, src: Path, out: Path) -> list[str]:
    if method.startswith("expand-"):
        quality = [] if method.endswith("-q90") else ["--quality", str(QUALITY)]
        return [sys.executable, "-m", "expand", str(src), "--out", str(out),
                "--workers", method.split("-")[1], "--copies", str(case.copies),
                "--format", case.fmt, *quality,
                "--preset", "shapes-tutorial", "--json"]  # bench.methods.PIPELINE
    return [sys.executable, "-m", "bench.methods", method, str(src), str(out),
            "--copies", str(case.copies), "--format", case.fmt, "--quality", str(QUALITY)]


class TreeMonitor:
    """Peak of the summed RSS of a process and all its descendants, and their CPU time (user +
    system, the last value seen of each process), polled from /proc every `interval` s."""

    TICK = os.sysconf("SC_CLK_TCK")
    PAGE = os.sysconf("SC_PAGE_SIZE")

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid, self.interval, self.peak = pid, interval, 0
        self._parents: dict[int, int] = {}
        self._cpu: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def _stat(pid: int) -> list[bytes] | None:
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            return None
        return stat[stat.rfind(b")") + 2:].split()  # fields from the 3rd (state) on

    def _sample(self) -> int:
        tree, total = {self.pid}, 0
        for pid in sorted(int(name) for name in os.listdir("/proc") if name.isdigit()):
            if pid not in self._parents:
                fields = self._stat(pid)
                if fields is None:
                    continue
                self._parents[pid] = int(fields[1])
            if pid in tree or self._parents[pid] in tree:
                tree.add(pid)
                fields = self._stat(pid)
                if fields is not None:
                    self._cpu[pid] = int(fields[11]) + int(fields[12])  # utime + stime
                    total += int(fields[21]) * self.PAGE  # rss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.interval)

    def stop(self) -> tuple[int, float]:
        """(peak RSS in bytes, CPU seconds)."""
        self._stop.set()
        self._thread.join()
        return self.peak, sum(self._cpu.values()) / self.TICK


def timed(cmd: list[str], env: dict[str, str], what: str) -> tuple[str, float, int, float]:
    """Run one method's command into an emptied OUT: (stdout, wall seconds, peak RSS in bytes,
    CPU seconds of its process tree).

    Raises:
        RuntimeError: it failed (`what` names it, with its stderr).
    """
    os.sync()
    started = time.perf_counter()
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
    monitor = TreeMonitor(process.pid)
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    peak, cpu = monitor.stop()
    if process.returncode != 0:
        raise RuntimeError(f"{what} failed ({process.returncode}):\n{stderr}")
    return stdout, wall, peak, cpu


def run_once(method: str, case: Case, src: Path, out: Path, env: dict[str, str]) -> dict[str, Any]:
    if method.startswith("floor"):
        # The limit: OpenBLAS on one thread, as `expand` sets for itself (launch._one_blas_thread).
        # Keras and Albumentations run as users run them.
        env = {"OPENBLAS_NUM_THREADS": "1", **env}
    shutil.rmtree(out, ignore_errors=True)
    stdout, wall, peak, cpu = timed(command(method, case, src, out), env,
                                    f"{method} on {case.name}")
    if method.startswith("expand-"):
        summary = json.loads(stdout)
        work = float(summary["elapsed_s"])
        if summary["workers"] != int(method.split("-")[1]):
            raise RuntimeError(f"{method} ran with {summary['workers']} workers")
    else:
        work = float(json.loads(stdout.strip().splitlines()[-1])["work_s"])
    files = [p for p in out.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES]
    sizes = [p.stat().st_size for p in files]
    shutil.rmtree(out, ignore_errors=True)
    return {"work_s": work, "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak / 2**20,
            "files": len(files),
            "bytes_per_file": sum(sizes) / max(1, len(sizes))}


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def summarise(case: Case, sources: int, runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    images = sources * case.copies
    methods: dict[str, Any] = {}
    for method, rounds in runs.items():
        work = _median([r["work_s"] for r in rounds])
        wall = _median([r["wall_s"] for r in rounds])
        methods[method] = {
            "images": images,
            "files_written": min(r["files"] for r in rounds),
            "work_s": work, "wall_s": wall,
            "images_per_s": images / work, "images_per_s_wall": images / wall,
            "cpu_ms_per_image": _median([r["cpu_s"] for r in rounds]) / images * 1000,
            "bytes_per_file": _median([r["bytes_per_file"] for r in rounds]),
            "peak_rss_mb": _median([r["peak_rss_mb"] for r in rounds]),
            "rounds": rounds,
        }
    ratios: dict[str, Any] = {}
    ours = runs["expand-2"]
    for method, rounds in runs.items():
        if method == "expand-2":
            continue
        pairs = list(zip(ours, rounds))
        ratios[method] = {
            "speed": _median([r["work_s"] / o["work_s"] for o, r in pairs]),
            "speed_wall": _median([r["wall_s"] / o["wall_s"] for o, r in pairs]),
            "bytes": methods["expand-2"]["bytes_per_file"] / methods[method]["bytes_per_file"],
        }
    return {"case": case.__dict__, "sources": sources, "methods": methods, "ratios": ratios}


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured value and whether it is met."""
    checks: list[dict[str, Any]] = []

    def ratio(case: str, other: str, key: str = "speed") -> float | None:
        entry = results.get(case, {}).get("ratios", {}).get(other)
        return None if entry is None else float(entry[key])

    def add(name: str, value: float | None, bound: float, at_least: bool) -> None:
        met = None if value is None else (value >= bound if at_least else value <= bound)
        checks.append({"target": name, "value": value, "bound": bound, "met": met})

    for case, bound in (("W2-png", 10.0), ("W2-jpeg", 10.0), ("W1", 3.0)):
        add(f"{case}: speed vs Keras >= {bound}x", ratio(case, "keras"), bound, True)
        add(f"{case}: bytes vs Keras <= 1.25x", ratio(case, "keras", "bytes"), 1.25, False)
    for case, bound in (("W2-png", 1.5), ("W3", 1.5), ("W2-jpeg", 1.3)):
        add(f"{case}: speed vs Albumentations >= {bound}x", ratio(case, "albumentations"),
            bound, True)
        add(f"{case}: bytes vs Albumentations <= 1x", ratio(case, "albumentations", "bytes"),
            1.0, False)
    for case in ("W2-png", "W2-jpeg", "W3"):
        speed = ratio(case, "floor")
        add(f"{case}: time vs floor <= 1.3x", None if speed is None else 1 / speed, 1.3, False)
    speed = ratio("W3", "expand-1")
    add("W3: 2 workers vs 1 >= 1.7x", speed, 1.7, True)
    return checks


def references(runs: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, float]:
    """Figures no target bounds, beside the targets they explain: the floor's own speed-up from
    a second process on W3 (per round, then the median), against which `expand`'s is read."""
    w3 = runs.get("W3", {})
    if not w3.get("floor") or not w3.get("floor-1"):
        return {}
    return {"W3: floor with 2 processes vs 1": _median(
        [one["work_s"] / two["work_s"] for two, one in zip(w3["floor"], w3["floor-1"])])}


def memory_check(root: Path, rounds: int, env: dict[str, str], scratch: Path) -> dict[str, Any]:
    """Peak RSS of expand (2 workers, W2 as JPEG) on W2 and on W2 with 10x the sources."""
    case = Case("memory", "W2", "jpeg", 10)
    small, large = workloads.make("W2", root), workloads.make("W2", root, scale=10)
    peaks: dict[str, list[float]] = {"W2": [], "W2x10": []}
    for _ in range(rounds):
        for name, src in (("W2", small), ("W2x10", large)):
            result = run_once("expand-2", case, src, scratch / "memory", env)
            peaks[name].append(result["peak_rss_mb"])
    ratio = _median(peaks["W2x10"]) / _median(peaks["W2"])
    return {"peak_rss_mb": {k: _median(v) for k, v in peaks.items()}, "rounds": peaks,
            "ratio": ratio, "met": ratio < 1.10}


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions: dict[str, str] = {}
    for name in ("numpy", "cv2", "PIL", "tensorflow", "keras", "albumentations"):
        try:
            probe = f"import {name}; print({name}.__version__)"
            found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                   timeout=120, check=False)
            versions[name] = found.stdout.strip() or "absent"
        except subprocess.TimeoutExpired:
            versions[name] = "?"
    return {"cpus": len(os.sched_getaffinity(0)), "cpu": model, "gpu": None,
            "python": platform.python_version(), "libraries": versions,
            "load_average_at_start": os.getloadavg()}


def table(results: dict[str, Any]) -> str:
    header = ("| case | method | images/s | (wall) | CPU ms/image | bytes/file | peak RSS MB "
              "| expand-2 is x faster | (wall) | bytes vs it |")
    lines = [header, "|---|---|---|---|---|---|---|---|---|---|"]
    for name, result in results.items():
        for method, m in result["methods"].items():
            r = result["ratios"].get(method)
            ratio = "" if r is None else f"{r['speed']:.2f} | {r['speed_wall']:.2f} | " \
                f"{r['bytes']:.2f}"
            lines.append(f"| {name} | {method} | {m['images_per_s']:.0f} | "
                         f"{m['images_per_s_wall']:.0f} | {m['cpu_ms_per_image']:.2f} | "
                         f"{m['bytes_per_file']:,.0f} | "
                         f"{m['peak_rss_mb']:.0f} | {ratio or ' | | '} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--keras-w3", action="store_true",
                        help="also run Keras on W3 (about a minute per round; no target uses it)")
    parser.add_argument("--no-memory", action="store_true", help="skip the 10x-sources check")
    parser.add_argument("--data", type=Path, default=RESULTS / "data")
    parser.add_argument("--scratch", type=Path, default=RESULTS / "runs",
                        help="where the methods write (each output deleted after it is measured); "
                        "a tmpfs such as /dev/shm/expand-bench keeps a shared disk's stalls out")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)  # git-ignored: absent from a fresh clone
    cases = [CASES[name] for name in args.cases.split(",")]
    methods = args.methods.split(",")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    started = datetime.datetime.now(datetime.timezone.utc)
    info = machine()
    sources = {}
    for case in cases:
        src = workloads.make(case.workload, args.data)
        sources[case.name] = (src, sum(1 for p in src.rglob("*") if p.is_file()))

    def plan(case: Case) -> list[str]:
        return [m for m in methods if not (m == "keras" and case.workload == "W3"
                                           and not args.keras_w3)
                and not (m == "expand-2-q90" and case.fmt != "jpeg")
                and not (m == "floor-1" and case.workload != "W3")]

    scratch = args.scratch
    print(f"warm-up (not counted): every method once on {cases[0].name}", file=sys.stderr)
    for method in plan(cases[0]):
        run_once(method, cases[0], sources[cases[0].name][0], scratch / "warm-up", env)
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {c.name: {m: [] for m in plan(c)}
                                                       for c in cases}
    for round_index in range(args.rounds):
        for case in cases:
            order = plan(case)
            shift = round_index % len(order)
            for method in order[shift:] + order[:shift]:  # rotate: no method always goes first
                result = run_once(method, case, sources[case.name][0],
                                  scratch / f"{case.name}-{method}", env)
                runs[case.name][method].append(result)
                print(f"round {round_index + 1} {case.name:8s} {method:15s} "
                      f"work {result['work_s']:6.2f} s  wall {result['wall_s']:6.2f} s  "
                      f"cpu {result['cpu_s']:6.2f} s  {result['peak_rss_mb']:5.0f} MB",
                      file=sys.stderr)
    results = {c.name: summarise(c, sources[c.name][1], runs[c.name]) for c in cases}
    report: dict[str, Any] = {"date": started.isoformat(timespec="seconds"), "machine": info,
                              "quality": QUALITY, "rounds": args.rounds,
                              "scratch": str(args.scratch), "results": results}
    if not args.no_memory:
        print("memory check: W2 against W2 with 10x the sources", file=sys.stderr)
        report["memory"] = memory_check(args.data, args.rounds, env, scratch)
    report["targets"] = targets(results)
    report["references"] = references(runs)
    report["machine"]["load_average_at_end"] = os.getloadavg()
    shutil.rmtree(scratch, ignore_errors=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    for name in (f"bench-{stamp}.json", "latest.json"):
        (RESULTS / name).write_text(json.dumps(report, indent=1) + "\n")
    load = info["load_average_at_start"][1], report["machine"]["load_average_at_end"][1]
    print(f"\n{started:%Y-%m-%d}, {info['cpus']} CPUs ({info['cpu']}), no GPU; median of "
          f"{args.rounds} rounds; JPEG quality {QUALITY}; outputs in {args.scratch}; load "
          f"average (5 min) {load[0]:.1f} at start, {load[1]:.1f} at end\n")
    print(table(results))
    if "memory" in report:
        mem = report["memory"]
        print(f"\nmemory: peak RSS {mem['peak_rss_mb']['W2']:.0f} MB on W2, "
              f"{mem['peak_rss_mb']['W2x10']:.0f} MB on 10x the sources "
              f"(x{mem['ratio']:.3f}; {'met' if mem['met'] else 'MISSED'})")
    print()
    for check in report["targets"]:
        value = "n/a" if check["value"] is None else f"{check['value']:.2f}"
        state = {True: "met", False: "MISSED", None: "not run"}[check["met"]]
        print(f"- {check['target']}: {value} ({state})")
    for name, value in report["references"].items():
        print(f"- {name}: {value:.2f} (a reference, no target)")
    print(f"\nwritten: {RESULTS / f'bench-{stamp}.json'}")


if __name__ == "__main__":
    main()
