"""Benchmark: the representative job through tre's engine vs the exact query in DuckDB.

    uv run python benchmarks/run_benchmark.py --sizes 1000000 10000000 [--repeats 5]

For each size it generates (once, cached in benchmarks/.data/) a dummy primary-care dataset,
then runs the representative job (benchmarks/representative_job/) through
`trusted_env.engine.run_plan` and the exact, non-private computation of the same aggregates in
DuckDB, alternating them, each run in a fresh process measured with `/usr/bin/time -v`; at the
sizes in --opendp-sizes it also runs the job through the peers: OpenDP's polars Context, and
SmartNoise SQL and Tumult Analytics where their own environments exist. It prints medians
of wall time and peak memory, their ratios, where the time goes, the 95% error of each
aggregate, and how long `tre check` and compiling the measurements take.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_datasets import DATA_DIR, ensure_dataset
from bench_measure import Measured, import_duckdb_seconds, measure, require_gnu_time
from bench_report import print_report
from bench_tasks import compile_plan, write_tasks

DEFAULT_SMARTNOISE_PYTHON = DATA_DIR / "snsql" / "bin" / "python"
DEFAULT_TUMULT_PYTHON = DATA_DIR / "tumult" / "bin" / "python"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000],
                        help="dataset sizes in patients (default: 1M and 10M)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="measured runs of each path per size (default 5)")
    parser.add_argument("--opendp-sizes", type=int, nargs="*", default=[1_000_000],
                        help="sizes at which the peers (OpenDP's polars Context, SmartNoise "
                        "SQL, Tumult Analytics) also run (default 1M)")
    parser.add_argument("--opendp-repeats", type=int, default=3,
                        help="runs of each peer reference per size (default 3)")
    parser.add_argument("--smartnoise-python", default=str(DEFAULT_SMARTNOISE_PYTHON),
                        help="Python of a virtual environment with smartnoise-sql and duckdb "
                        "(default: benchmarks/.data/snsql/bin/python; skipped if missing)")
    parser.add_argument("--tumult-python", default=str(DEFAULT_TUMULT_PYTHON),
                        help="Python of a virtual environment with tmlt.analytics and duckdb "
                        "(default: benchmarks/.data/tumult/bin/python; skipped if missing)")
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads, every path")
    parser.add_argument("--memory-limit", default="14GB",
                        help="DuckDB memory limit, every path (50M patients peak at ~10.5 GB)")
    parser.add_argument("--warm-runs", type=int, default=7,
                        help="runs of each path in one long-lived process (0: skip)")
    parser.add_argument("--no-warmup", action="store_true",
                        help="skip the unmeasured first run of each path (page cache warm-up)")
    return parser.parse_args()


def _settings(args: argparse.Namespace, size: int) -> dict[str, Any]:
    return {"threads": args.threads, "memory_limit": args.memory_limit, "alpha": 0.05,
            "max_length": size, "warm_runs": args.warm_runs}


def _alternate(tasks: dict[str, Path], folder: Path, args: argparse.Namespace,
               with_peers: bool) -> list[Measured]:
    """tre and exact in alternating order, warm-up first; then the peers, fewer times.

    The peers run after the comparison the targets are judged on: interleaved with it, Spark's
    JVM and the peers' copies of the cohort (GBs) slowed the tre and exact runs that followed.
    """
    rounds = [["tre", "exact"] if repeat % 2 == 0 else ["exact", "tre"]
              for repeat in range(args.repeats)]
    if not args.no_warmup:
        for mode in ("tre", "exact"):
            measure(mode, tasks[mode], folder / f"warmup-{mode}.json")
    own_pythons = {"smartnoise": args.smartnoise_python, "tumult": args.tumult_python}
    if with_peers:
        peers = ["opendp", *(peer for peer, python in own_pythons.items()
                             if Path(python).is_file())]
        rounds += [peers] * args.opendp_repeats
    runs: list[Measured] = []
    counts: dict[str, int] = {}
    for mode in (mode for modes in rounds for mode in modes):
        counts[mode] = repeat = counts.get(mode, 0) + 1
        # The peers read the same task: the cohort SQL and each output's parameters.
        task = tasks["opendp" if mode in own_pythons else mode]
        run = measure(mode, task, folder / f"result-{mode}-{repeat - 1}.json",
                      own_pythons.get(mode))
        print(f"  {mode:6} run {repeat}: {run.wall_seconds:6.2f} s, "
              f"{run.peak_rss_mb:7.0f} MB", flush=True)
        runs.append(run)
    return runs


def _machine_speed() -> dict[str, float]:
    """Load average and a fixed probe (`import duckdb` in a fresh interpreter), so that runs
    on a VM whose speed changes can be told apart: the probe took 0.09 s and later 0.17 s on
    the same idle VM, and every fresh-process figure moved with it."""
    return {"load_average": os.getloadavg()[0], "import_duckdb_s": import_duckdb_seconds()}


def main() -> None:
    args = _arguments()
    require_gnu_time()
    plan = compile_plan()
    sizes: dict[int, list[Measured]] = {}
    datasets: dict[int, Path] = {}
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    speed_before = _machine_speed()
    compile_task: Path | None = None
    for size in args.sizes:
        dataset = datasets[size] = ensure_dataset(size)
        folder = DATA_DIR / f"run-{size}"
        folder.mkdir(parents=True, exist_ok=True)
        tasks = write_tasks(folder, dataset, plan, _settings(args, size))
        compile_task = tasks["tre"]
        print(f"{size:,} patients: {args.repeats} runs of each path", flush=True)
        sizes[size] = _alternate(tasks, folder, args, size in args.opendp_sizes)
        if args.warm_runs > 0:
            sizes[size].append(measure("warm", tasks["warm"], folder / "result-warm.json"))
    speed_after = _machine_speed()
    if compile_task is None:
        sys.exit("no sizes given")
    report = print_report(plan, sizes, datasets, compile_task, args)
    report.update({"started": started, "machine_before": speed_before,
                   "machine_after": speed_after, "cpus": os.cpu_count()})
    print(f"\nmachine ({os.cpu_count()} CPUs): load average {speed_before['load_average']:.2f} "
          f"before, {speed_after['load_average']:.2f} after; `import duckdb` in a fresh "
          f"interpreter {speed_before['import_duckdb_s']:.3f} s before, "
          f"{speed_after['import_duckdb_s']:.3f} s after")
    out = DATA_DIR / f"results-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(f"Saved {out}")


if __name__ == "__main__":
    main()
