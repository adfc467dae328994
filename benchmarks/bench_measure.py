"""Run one measured process under GNU time and read its wall time and peak memory."""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GNU_TIME = Path("/usr/bin/time")
WORKERS = Path(__file__).resolve().parent / "bench_workers.py"
_WALL = re.compile(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)")
_RSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")
_CPU = re.compile(r"(?:User|System) time \(seconds\): ([\d.]+)")
PYCACHE = Path(__file__).resolve().parent / ".data" / "pycache"


def child_environment() -> dict[str, str]:
    """The environment of measured processes: Python may cache compiled bytecode.

    A deployed runner imports from compiled bytecode (installed with `uv sync
    --compile-bytecode`, or cached on first import). Where PYTHONDONTWRITEBYTECODE is set (as
    on some CI machines) every process would compile every module from source, adding seconds
    to each path that imports more; the cache goes under benchmarks/.data/ instead.
    """
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    environment["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return environment


@dataclass(frozen=True)
class Measured:
    mode: str
    wall_seconds: float
    peak_rss_mb: float
    cpu_seconds: float
    result: dict[str, Any]


def require_gnu_time() -> None:
    if not GNU_TIME.is_file():
        sys.exit(
            "The benchmark measures each run with GNU time (/usr/bin/time -v), which is missing. "
            "On Debian/Ubuntu: apt-get update && apt-get install -y time"
        )


def parse_time_report(stderr: str) -> tuple[float, float, float]:
    """(wall seconds, peak RSS in MB, user + system CPU seconds) from `/usr/bin/time -v`."""
    wall = _WALL.search(stderr)
    rss = _RSS.search(stderr)
    cpu = [float(found) for found in _CPU.findall(stderr)]
    if wall is None or rss is None or len(cpu) != 2:
        raise RuntimeError(f"could not read /usr/bin/time's report:\n{stderr[-2000:]}")
    hours, minutes, seconds = wall.groups()
    total = int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    return total, int(rss.group(1)) / 1024, sum(cpu)


# Peers that pin their own libraries run from their own environments, with their own worker.
PEER_WORKERS = {
    "smartnoise": Path(__file__).resolve().parent / "smartnoise_reference.py",
    "tumult": Path(__file__).resolve().parent / "tumult_reference.py",
}


def measure(mode: str, task: Path, result: Path, python: str | None = None) -> Measured:
    """Run `bench_workers.py MODE` (or a peer's worker with its own Python) in a fresh
    interpreter under `/usr/bin/time -v`."""
    result.unlink(missing_ok=True)
    script = [str(PEER_WORKERS[mode])] if mode in PEER_WORKERS else [str(WORKERS), mode]
    command = [str(GNU_TIME), "-v", python or sys.executable, *script, str(task), str(result)]
    done = subprocess.run(  # noqa: S603
        command, capture_output=True, text=True, check=False, env=child_environment()
    )
    if done.returncode != 0:
        raise RuntimeError(f"{mode} run failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    wall, rss, cpu = parse_time_report(done.stderr)
    report = json.loads(result.read_text(encoding="utf-8"))
    # A worker whose child outlives GNU time's accounting (Spark's JVM) reports it itself; both
    # run at once, so their peaks are added.
    children = report.get("children", {})
    return Measured(mode, wall, rss + children.get("peak_rss_mb", 0.0),
                    cpu + children.get("cpu_seconds", 0.0), report)


def median(values: list[float]) -> float:
    return statistics.median(values)


def timed_command(command: list[str], repeats: int) -> float:
    """Median wall seconds of a command (each run a fresh process, after one unmeasured run).

    Timed from here rather than by GNU time, whose wall clock has a resolution of 10 ms.
    """
    walls = []
    for attempt in range(repeats + 1):
        started = time.perf_counter()
        done = subprocess.run(  # noqa: S603
            command, capture_output=True, text=True, check=False, env=child_environment()
        )
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
        if attempt > 0:
            walls.append(elapsed)
    return median(walls)


def import_duckdb_seconds(repeats: int = 9) -> float:
    """A fresh interpreter that imports DuckDB and exits: what the exact path pays before it
    works, and a probe of the machine's speed."""
    return timed_command([sys.executable, "-c", "import duckdb"], repeats)


def tre_executable() -> str:
    found = shutil.which("tre", path=str(Path(sys.executable).parent))
    if found is None:
        raise RuntimeError("the `tre` command is not installed next to this Python (uv sync)")
    return found
