"""The representative job through Tumult Analytics, as its documentation shows (peer reference).

Tumult Analytics runs on Spark and pins its own pandas, NumPy and PySpark, so it runs from its
own virtual environment (see the README's "Performance" section):

    benchmarks/.data/tumult/bin/python benchmarks/tumult_reference.py TASK.json RESULT.json

The cohort comes from DuckDB as a pandas frame and is copied into a local Spark session (two
cores, as every path gets, and Spark's default driver memory, which suffices at 1M patients; a
larger setting only lets the JVM grow: 5.9 GB with 8 GB allowed). A Session protects one row
(one patient) with a pure-DP budget of the job's epsilon, and each output spends its share:
`groupby(KeySet).count()`, `.average(column, low, high)` and `.quantile(column, 0.5, low, high)`
on the column as it is. What Tumult reports of its noise (`Session._noise_info`: the mechanism
and its scale for each noisy statistic) is saved beside each release, for the accuracy table.
Tumult's median is drawn from the continuous range, so the exact median of the raw column is
saved too.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()
WAREHOUSE = Path(__file__).resolve().parent / ".data" / "spark-warehouse"


def _cohort(task: dict[str, Any]) -> tuple[Any, float | None]:
    """The cohort as a pandas frame, and the exact median of the median's raw column."""
    from bench_workers import connect_as_analyst

    connection = connect_as_analyst(task)
    connection.execute(f"CREATE TEMP TABLE cohort AS {task['cohort_sql']}")
    frame = connection.execute("SELECT * FROM cohort").df()
    median_column = next((o["column"] for o in task["outputs"] if o["type"] == "median"), None)
    exact_median = None
    if median_column is not None:
        row = connection.execute(
            f'SELECT quantile_disc("{median_column}", 0.5) FROM cohort'  # noqa: S608
        ).fetchone()
        exact_median = None if row is None else row[0]
    connection.close()
    return frame, exact_median


def _query(output: dict[str, Any]) -> Any:
    from tmlt.analytics import KeySet, QueryBuilder

    # An empty KeySet is one group: how Tumult itself builds an ungrouped aggregate.
    keys = KeySet.from_dict({column: list(values) for column, values in output["group_by"]})
    grouped = QueryBuilder("cohort").groupby(keys)
    if output["type"] == "count":
        return grouped.count()
    lower, upper = output["bounds"]
    if output["type"] == "mean":
        return grouped.average(output["column"], lower, upper)
    if output["type"] == "sum":
        return grouped.sum(output["column"], lower, upper)
    return grouped.quantile(output["column"], output["quantile"], lower, upper)


def _noise(session: Any, query: Any, budget: Any) -> list[dict[str, Any]]:
    """Tumult's own report of each noisy statistic: a documented method, underscore and all."""
    return [{"mechanism": str(info["noise_mechanism"].name),
             "scale": float(info["noise_parameter"])}
            for info in session._noise_info(query, budget)]


def _midpoint(session: Any, output: dict[str, Any]) -> float | None:
    """The value Tumult centres a mean's sum on (rounded to a whole number for integers)."""
    from tmlt.analytics import ColumnType
    from tmlt.core.measurements.aggregations import get_midpoint
    from tmlt.core.utils.exact_number import ExactNumber

    if output["type"] != "mean":
        return None
    integer = session.get_column_types("cohort")[output["column"]] == ColumnType.INTEGER
    lower, upper = (ExactNumber.from_float(bound, round_up=False) for bound in output["bounds"])
    return float(get_midpoint(lower, upper, integer_midpoint=integer)[0])


def _jvm_usage() -> dict[str, float]:
    """Peak memory and CPU time of Spark's JVM, a child that GNU time does not account for.

    PySpark starts the JVM as a child of this process but does not wait for it at exit, so
    `/usr/bin/time` sees neither its memory nor its CPU; they are read from /proc before Spark
    stops, and the benchmark adds them to this process's own figures.
    """
    usage = {"peak_rss_mb": 0.0, "cpu_seconds": 0.0}
    ticks = os.sysconf("SC_CLK_TCK")
    for task in Path("/proc/self/task").iterdir():
        for child in (task / "children").read_text().split():
            status = Path(f"/proc/{child}/status").read_text().splitlines()
            peak = next(line for line in status if line.startswith("VmHWM:"))
            usage["peak_rss_mb"] += int(peak.split()[1]) / 1024
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            usage["cpu_seconds"] += (int(fields[11]) + int(fields[12])) / ticks
    return usage


def main() -> None:
    task = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    from pyspark.sql import SparkSession
    from tmlt.analytics import AddOneRow, PureDPBudget, Session
    from tmlt.analytics.utils import cleanup

    marks = {"imported": time.perf_counter()}
    # Spark's Python workers must be this environment's Python, which has Tumult installed.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = (SparkSession.builder.master(f"local[{task['threads']}]")
             .config("spark.sql.execution.arrow.pyspark.enabled", "true")
             .config("spark.ui.enabled", "false")
             # Tumult keeps its working tables in Spark's warehouse, which defaults to the
             # current directory; it goes beside the datasets instead.
             .config("spark.sql.warehouse.dir", str(WAREHOUSE))
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    marks["spark started"] = time.perf_counter()
    frame, exact_median = _cohort(task)
    marks["cohort copied into pandas"] = time.perf_counter()
    session = Session.from_dataframe(
        privacy_budget=PureDPBudget(task["epsilon"]), source_id="cohort",
        dataframe=spark.createDataFrame(frame), protected_change=AddOneRow(),
    )
    marks["cohort copied into Spark"] = time.perf_counter()
    released, noise, midpoints = {}, {}, {}
    for output, epsilon in zip(task["outputs"], task["weights"], strict=True):
        query, budget = _query(output), PureDPBudget(epsilon)
        noise[output["name"]] = _noise(session, query, budget)
        midpoints[output["name"]] = _midpoint(session, output)
        released[output["name"]] = [list(row) for row in
                                     session.evaluate(query, budget).toPandas().itertuples(
                                         index=False)]
        marks[f"released {output['name']}"] = time.perf_counter()
    jvm = _jvm_usage()
    cleanup()  # drops this Session's working tables, as Tumult asks before spark.stop()
    spark.stop()
    result = {"released": released, "noise": noise, "midpoints": midpoints, "children": jvm,
              "exact_median": exact_median,
              "marks": {k: v - STARTED for k, v in marks.items()}}
    Path(sys.argv[2]).write_text(json.dumps(result, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
