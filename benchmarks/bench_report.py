"""Tables of the benchmark: time and memory, where the time goes, accuracy, fixed costs."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any

from bench_accuracy import (
    opendp_errors,
    quantile_errors,
    smartnoise_errors,
    summarise,
    tre_errors,
    tumult_errors,
)
from bench_measure import (
    Measured,
    import_duckdb_seconds,
    measure,
    median,
    timed_command,
    tre_executable,
)
from bench_targets import print_targets

REPO = Path(__file__).resolve().parents[1]
QUANTILE_DRAWS = 2_000


def _by_mode(runs: list[Measured], mode: str) -> list[Measured]:
    return [run for run in runs if run.mode == mode]


PATHS = {
    "exact": "exact DuckDB (no privacy)",
    "tre": "tre engine (DP)",
    "opendp": "OpenDP polars Context",
    "smartnoise": "SmartNoise SQL",
    "tumult": "Tumult Analytics (Spark)",
}
PEERS = ("opendp", "smartnoise", "tumult")


def _time_rows(sizes: dict[int, list[Measured]]) -> list[dict[str, Any]]:
    rows = []
    for size, runs in sizes.items():
        exact = _by_mode(runs, "exact")
        base = {key: median([getattr(r, key) for r in exact])
                for key in ("wall_seconds", "peak_rss_mb", "cpu_seconds")}
        for mode in PATHS:
            picked = _by_mode(runs, mode)
            if not picked:
                continue
            row: dict[str, Any] = {"patients": size, "path": mode, "runs": len(picked)}
            for key in ("wall_seconds", "peak_rss_mb", "cpu_seconds"):
                row[key] = median([getattr(r, key) for r in picked])
                row[f"{key}_ratio"] = row[key] / base[key]
            rows.append(row)
    return rows


def _print_times(rows: list[dict[str, Any]]) -> None:
    print("\n## Wall time, CPU time and peak memory (medians; each run a fresh process)\n")
    print("| patients | path | wall time | / exact | CPU time (user+sys) | / exact | peak RSS "
          "| / exact | runs |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['patients']:,} | {PATHS[row['path']]} | {row['wall_seconds']:.2f} s "
              f"| {row['wall_seconds_ratio']:.2f}x | {row['cpu_seconds']:.2f} s "
              f"| {row['cpu_seconds_ratio']:.2f}x | {row['peak_rss_mb']:,.0f} MB "
              f"| {row['peak_rss_mb_ratio']:.2f}x | {row['runs']} |")


def _print_phases(sizes: dict[int, list[Measured]]) -> dict[str, Any]:
    """Median time from process start to each mark of each path."""
    print("\n## Where the time goes (median seconds from interpreter start to each step)\n")
    phases: dict[str, Any] = {}
    for size, runs in sizes.items():
        for mode in PATHS:
            picked = _by_mode(runs, mode)
            if not picked:
                continue
            marks = {name: median([r.result["marks"][name] for r in picked
                                   if name in r.result["marks"]])
                     for name in picked[0].result["marks"]}
            phases[f"{size}/{mode}"] = marks
            steps = ", ".join(f"{name} {at:.2f}" for name, at in marks.items())
            print(f"- {size:,} {mode}: {steps}")
    return phases


def _print_overhead(phases: dict[str, Any], sizes: dict[int, list[Measured]]) -> None:
    """The DP path's extra time, split into imports and the run itself (median marks)."""
    print("\n## DP-specific overhead (tre minus exact, medians)\n")
    print("| patients | extra imports | extra in the run (validation, checks, noise) | total |")
    print("|---|---|---|---|")
    for size in sizes:
        tre, exact = phases.get(f"{size}/tre"), phases.get(f"{size}/exact")
        if not tre or not exact:
            continue
        imports = tre["imported"] - exact["imported"]
        # tre's "released" comes after closing DuckDB; so does the exact path's "closed".
        exact_end = exact.get("closed", exact["aggregates"])
        run = (tre["released"] - tre["imported"]) - (exact_end - exact["imported"])
        print(f"| {size:,} | {imports:+.2f} s | {run:+.2f} s | {imports + run:+.2f} s |")


def _print_warm(sizes: dict[int, list[Measured]]) -> dict[str, Any]:
    """Per-run times in one long-lived process (medians of the runs after the first)."""
    warm: dict[str, Any] = {}
    for size, runs in sizes.items():
        picked = _by_mode(runs, "warm")
        if not picked:
            continue
        seconds = picked[0].result["seconds"]
        tre, exact = median(seconds["tre"][1:]), median(seconds["exact"][1:])
        warm[str(size)] = {"tre_s": tre, "exact_s": exact, "all": seconds}
    if warm:
        print("\n## Per run in a long-lived process (imports paid once, as in `tre worker`)\n")
        print("| patients | exact DuckDB | tre (DP) | / exact | DP overhead per run |")
        print("|---|---|---|---|---|")
        for size, row in warm.items():
            print(f"| {int(size):,} | {row['exact_s']:.2f} s | {row['tre_s']:.2f} s | "
                  f"{row['tre_s'] / row['exact_s']:.2f}x | "
                  f"{row['tre_s'] - row['exact_s']:+.2f} s |")
    return warm


def _exact_rows(runs: list[Measured], name: str) -> list[list[Any]]:
    return list(_by_mode(runs, "exact")[0].result["results"][name])


def _median_draws(plan: Any, planned: Any, dataset: Path,
                  memory_limit: str) -> tuple[float, float]:
    """(exact median, 95% |error|) of tre's quantile mechanism over repeated draws."""
    from trusted_env.dp.outputs import below_above
    from trusted_env.dp.planned import quantile_mechanism
    from trusted_env.engine.connection import SandboxLimits
    from trusted_env.engine.executor import compute_all_exact
    from trusted_env.engine.local import exact_estimates
    from trusted_env.schema import load_schema
    from trusted_env.validation.plan_checks import check_plan_for_run

    single = plan.model_copy(update={"outputs": (planned,)})
    checked = check_plan_for_run(single, load_schema(plan.dataset_schema))
    cells = compute_all_exact(checked, dataset, SandboxLimits(memory_limit=memory_limit))[0]
    exact = exact_estimates(cells)[()]
    output = planned.output
    selector = quantile_mechanism(output, planned.epsilon, planned.max_rows_per_patient)
    below, above = below_above(cells.values.get(()), len(selector.candidates))
    draws = [selector.release(below, above) * output.resolution for _ in range(QUANTILE_DRAWS)]
    return float(exact or 0.0), quantile_errors(draws, float(exact or 0.0))


def _errors(plan: Any, planned: Any, runs: list[Measured], dataset: Path,
            memory_limit: str) -> dict[str, Any]:
    """95% errors of one output on every path that ran (empty where a path has none)."""
    name = planned.output.name
    exact = _exact_rows(runs, name)
    release = {o["name"]: o for o in _by_mode(runs, "tre")[0].result["release"]["outputs"]}
    opendp, smartnoise = _by_mode(runs, "opendp"), _by_mode(runs, "smartnoise")
    tumult = _by_mode(runs, "tumult")
    errors: dict[str, Any] = {
        "tre": tre_errors(planned, release[name], exact),
        "opendp": opendp_errors(planned, opendp[0].result["summaries"][name], exact)
        if opendp else None,
        "smartnoise": smartnoise_errors(planned, smartnoise[0].result["accuracy"].get(name),
                                        exact) if smartnoise else None,
        "tumult": tumult_errors(planned, tumult[0].result["noise"][name],
                                tumult[0].result["midpoints"][name], exact) if tumult else None,
    }
    if planned.output.type in ("median", "quantile"):
        exact_median, error = _median_draws(plan, planned, dataset, memory_limit)
        errors["tre"] = [error]
        # A peer releases one draw per run: the largest error seen over its runs.
        if opendp:
            errors["opendp"] = [max(
                abs(float(next(iter(run.result["released"][name][0].values()))) - exact_median)
                for run in opendp)]
        if tumult:
            # Tumult draws from the continuous range: measured against the raw column's median.
            errors["tumult"] = [max(
                abs(float(run.result["released"][name][0][-1]) - run.result["exact_median"])
                for run in tumult)]
    return errors


def _accuracy(plan: Any, sizes: dict[int, list[Measured]], datasets: dict[int, Path],
              memory_limit: str) -> dict[str, Any]:
    print("\n## 95% error of each aggregate (same epsilon per output on every path)\n")
    print("| patients | output | epsilon | tre | "
          + " | ".join(PATHS[peer] for peer in PEERS) + " |")
    print("|---" * (4 + len(PEERS)) + "|")
    table: dict[str, Any] = {}
    for size, runs in sizes.items():
        for planned in plan.outputs:
            errors = _errors(plan, planned, runs, datasets[size], memory_limit)
            table[f"{size}/{planned.output.name}"] = errors
            shown = [summarise(errors[path]) if errors[path] is not None else "-"
                     for path in ("tre", *PEERS)]
            print(f"| {size:,} | {planned.output.name} | {planned.epsilon:g} | "
                  + " | ".join(shown) + " |")
    return table


def _fixed_costs(compile_task: Path, repeats: int = 3) -> dict[str, Any]:
    print("\n## Fixed costs\n")
    compiled = [measure("compile", compile_task, compile_task.with_name("compile.json"))
                for _ in range(repeats)]
    per_output = {name: median([c.result["per_output_seconds"][name] * 1000 for c in compiled])
                  for name in compiled[0].result["per_output_seconds"]}
    for name, ms in per_output.items():
        print(f"- building the OpenDP measurements of {name}: {ms:.1f} ms")
    tre = tre_executable()
    costs: dict[str, Any] = {"compile_ms": per_output, "tre_check_s": {}}
    for job in sorted((REPO / "jobs").iterdir()):
        seconds = timed_command([tre, "check", str(job)], repeats)
        costs["tre_check_s"][job.name] = seconds
        print(f"- `tre check jobs/{job.name}`: {seconds:.2f} s")
    costs["library_floor_s"] = _library_floor()
    print(f"- importing, then unloading at exit, what tre's run needs beyond DuckDB (pydantic, "
          f"sqlglot and its DuckDB dialect, OpenDP and numpy, trusted-env's models), with no "
          f"work done: +{costs['library_floor_s']:.2f} s per fresh process")
    costs["tre_help_s"] = timed_command([tre, "--help"], repeats)
    costs["python_startup_s"] = timed_command([sys.executable, "-c", "pass"], repeats)
    print(f"- `tre --help`: {costs['tre_help_s']:.2f} s "
          f"(`python -c pass`: {costs['python_startup_s'] * 1000:.0f} ms)")
    return costs


# What a fresh process running tre's engine imports, against what the exact path imports.
_TRE_IMPORTS = ("import trusted_env.engine, sqlglot.dialects.duckdb; "
                "from trusted_env.dp.opendp_core import opendp; opendp()")


def _library_floor(repeats: int = 9) -> float:
    """The part of the fresh-process overhead that no change to tre's own work can remove."""
    tre = timed_command([sys.executable, "-c", _TRE_IMPORTS], repeats)
    return tre - import_duckdb_seconds(repeats)


def print_report(plan: Any, sizes: dict[int, list[Measured]], datasets: dict[int, Path],
                 compile_task: Path, args: Any) -> dict[str, Any]:
    rows = _time_rows(sizes)
    _print_times(rows)
    phases = _print_phases(sizes)
    _print_overhead(phases, sizes)
    warm = _print_warm(sizes)
    accuracy = _accuracy(plan, sizes, datasets, args.memory_limit)
    fixed = _fixed_costs(compile_task)
    spread = {f"{size}/{mode}": sorted(r.wall_seconds for r in _by_mode(runs, mode))
              for size, runs in sizes.items() for mode in PATHS}
    print("\nAll wall times (s): " + "; ".join(
        f"{key} " + ", ".join(f"{s:.2f}" for s in values)
        for key, values in spread.items() if values))
    targets = print_targets(rows, warm, accuracy, fixed)
    stdev = {key: statistics.pstdev(values) for key, values in spread.items() if values}
    return {"targets": targets, "times": rows, "phases": phases, "warm": warm,
            "accuracy": accuracy, "fixed": fixed, "wall_times": spread, "stdev": stdev,
            "args": vars(args)}
