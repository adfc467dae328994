"""The whole system through a real HTTP server process and a real worker process.

A researcher submits with the `tre` client, a steward approves over HTTP, the worker process
runs the job, the steward publishes, and a policy reader downloads CSV and Parquet and checks
them against the release. Then the client's messages for a wrong token and an unreachable
server.
"""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import polars as pl
import pytest
import typer
from api_support import DATASET, JOBS, OPERATOR, PEOPLE
from typer.testing import CliRunner

from trusted_env.cli import client
from trusted_env.cli.demo import (
    BackgroundProcess,
    child_environment,
    free_port,
    start_server,
    start_worker,
    wait_for_server,
)
from trusted_env.control import Database, datasets, users
from trusted_env.errors import AuthenticationError, UserError
from trusted_env.schema import load_schema
from trusted_env.settings import Settings
from trusted_env.spec.plan import Plan

pytestmark = pytest.mark.slow


def number(cell: str) -> float | None:
    """A CSV cell as a float; empty for a cell without an estimate."""
    return float(cell) if cell else None


@dataclass
class Stack:
    url: str
    tokens: dict[str, str]
    server: BackgroundProcess
    worker: BackgroundProcess

    def http(self, who: str) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.url}/v1",
            headers={"Authorization": f"Bearer {self.tokens[who]}"},
            timeout=30,
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, api_dataset_file: Path) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("e2e")
    db = Database.from_settings(Settings(data_dir=data_dir))
    with db.transaction() as session:
        datasets.register_dataset(
            session,
            OPERATOR,
            name=DATASET,
            path=api_dataset_file,
            schema=load_schema("primary_care"),
            budget_epsilon=3.0,
        )
        tokens = {n: users.create_user(session, OPERATOR, n, r).token for n, r in PEOPLE.items()}
    db.dispose()
    port = free_port()
    env = child_environment(data_dir)
    server = start_server(data_dir, port, env)
    worker = start_worker(data_dir, env)
    try:
        wait_for_server(f"http://127.0.0.1:{port}", server)
        yield Stack(f"http://127.0.0.1:{port}", tokens, server, worker)
    finally:
        server.stop()
        worker.stop()


def tre(stack_url: str, token: str, *args: str) -> str:
    """Run a client command in-process, against the real server."""
    app = typer.Typer()
    client.register(app)
    result = CliRunner().invoke(app, list(args), env={"TRE_URL": stack_url, "TRE_TOKEN": token})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # as one line: the terminal width wraps it


def wait_until_released(stack: Stack, run_id: int) -> int:
    with stack.http("rita") as rita:
        for _ in range(600):
            view = rita.get(f"/runs/{run_id}").json()
            if view["state"] in ("released", "failed"):
                assert view["release_id"] is not None, (view, stack.worker.log_tail())
                return int(view["release_id"])
            assert stack.worker.running(), stack.worker.log_tail()
            time.sleep(0.1)
    raise AssertionError(f"run {run_id} was not released: {stack.worker.log_tail()}")


def test_researcher_steward_worker_and_policy_reader(stack: Stack, tmp_path: Path) -> None:
    submitted = tre(
        stack.url,
        stack.tokens["rita"],
        "submit",
        str(JOBS / "diabetes_prevalence"),
        "--dataset",
        DATASET,
    )
    assert "Run 1 diabetes_prevalence on gp: submitted" in submitted
    listed = tre(stack.url, stack.tokens["rita"], "runs")
    assert "│ 1 " in listed and "submitted" in listed
    with stack.http("sam") as sam:
        waiting = sam.get("/runs", params={"state": "submitted"}).json()
        assert [run["id"] for run in waiting] == [1]
        approved = sam.post("/runs/1/approve", json={"reason": "Aggregates only."})
        assert approved.status_code == 200, approved.text
    release_id = wait_until_released(stack, 1)
    status = tre(stack.url, stack.tokens["rita"], "status", "1")
    assert "released" in status and "approved by sam: Aggregates only." in status
    shown = tre(stack.url, stack.tokens["rita"], "release", "1")
    assert "adults_by_region_age_sex" in shown and "95% CI" in shown
    own_csv = tmp_path / "own.csv"
    tre(stack.url, stack.tokens["rita"], "release", "1", "--out", str(own_csv))
    with stack.http("pat") as pat:
        assert pat.get(f"/releases/{release_id}").status_code == 404
        with stack.http("sam") as sam:
            assert sam.post(f"/releases/{release_id}/publish").status_code == 200
        view = pat.get(f"/releases/{release_id}").json()
        downloads = {
            fmt: pat.get(f"/releases/{release_id}/download", params={"format": fmt})
            for fmt in ("csv", "parquet")
        }
    assert downloads["csv"].headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(downloads["csv"].text)))
    frame = pl.read_parquet(io.BytesIO(downloads["parquet"].content))
    cells = Counter(
        (o["name"], r["estimate"]) for o in view["release"]["outputs"] for r in o["rows"]
    )
    assert len(rows) == frame.height == cells.total() == 85
    assert Counter((r["output"], number(r["estimate"])) for r in rows) == cells
    assert Counter(zip(frame["output"], frame["estimate"], strict=True)) == cells
    assert (frame["ci_low"] <= frame["estimate"]).all()
    assert (frame["estimate"] <= frame["ci_high"]).all()
    assert own_csv.read_text(encoding="utf-8") == downloads["csv"].text
    assert view["approval"]["steward"] == "sam" and view["epsilon"] == 1.0


def test_the_client_says_when_the_token_is_wrong(stack: Stack) -> None:
    with pytest.raises(AuthenticationError, match="TRE_TOKEN"):
        tre(stack.url, "tre_not-a-real-token", "runs")


def test_the_client_says_when_the_server_is_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(UserError, match="Cannot reach the trusted-env server"):
        tre(url, "tre_whatever", "runs")


def test_the_client_says_what_to_set_when_nothing_is_configured() -> None:
    app = typer.Typer()
    client.register(app)
    result = CliRunner().invoke(app, ["runs"], env={"TRE_URL": None, "TRE_TOKEN": None})
    assert isinstance(result.exception, UserError)
    assert "TRE_URL" in str(result.exception)


def test_a_compiled_plan_file_can_be_submitted(
    stack: Stack, tmp_path: Path, diabetes_plan: Plan
) -> None:
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(diabetes_plan.to_json(), encoding="utf-8")
    submitted = tre(stack.url, stack.tokens["ravi"], "submit", str(plan_file), "--dataset", DATASET)
    assert "submitted by ravi" in submitted
    with stack.http("ravi") as ravi:
        mine = ravi.get("/runs").json()
    assert [(run["submitted_by"], run["plan_hash"]) for run in mine] == [
        ("ravi", diabetes_plan.hash)
    ]
