"""`tre demo`: the whole trusted environment on this machine, narrated, in under a minute.

In a temporary directory (its own data directory and SQLite database) it starts a real API
server and a runner worker as subprocesses, registers the dummy dataset as if it were real,
creates a researcher, a steward and a policy reader, and walks one job from submission to the
policy reader's table. Everything is removed afterwards, also after a failure or Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.console import Console

from trusted_env.errors import UserError

console = Console(highlight=False)

DEMO_JOB = "diabetes_prevalence"
DEMO_DATASET = "primary_care"
DEMO_BUDGET = 3.0
STARTUP_SECONDS = 60.0
RUN_SECONDS = 120.0


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class BackgroundProcess:
    """A child process with its output in a log file; stopped (then killed) on `stop()`."""

    def __init__(self, name: str, args: list[str], env: Mapping[str, str], log: Path) -> None:
        self.name, self.log = name, log
        self._log_file: IO[bytes] = log.open("wb")
        # Own session: a Ctrl-C in the terminal reaches the demo, which stops its children.
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            args,
            env=dict(env),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        if self.running():
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        self._log_file.close()


def child_environment(data_dir: Path, **settings: str) -> dict[str, str]:
    """This process's environment, pointed at `data_dir` and its SQLite database only."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRE_")}
    env["TRE_DATA_DIR"] = str(data_dir)
    env.update({f"TRE_{key.upper()}": value for key, value in settings.items()})
    return env


def start_server(data_dir: Path, port: int, env: Mapping[str, str]) -> BackgroundProcess:
    args = [sys.executable, "-m", "trusted_env.cli.serve", "--host", "127.0.0.1"]
    return BackgroundProcess("server", [*args, "--port", str(port)], env, data_dir / "server.log")


def start_worker(data_dir: Path, env: Mapping[str, str]) -> BackgroundProcess:
    args = [sys.executable, "-m", "trusted_env.cli.worker", "--poll-seconds", "0.2"]
    return BackgroundProcess("worker", args, env, data_dir / "worker.log")


def wait_for_server(url: str, server: BackgroundProcess, timeout: float = STARTUP_SECONDS) -> None:
    """Poll the health endpoint until it answers; refuse if the server process died."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.running():
            raise UserError(f"The API server exited during startup:\n{server.log_tail()}")
        try:
            if httpx.get(f"{url}/v1/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise UserError(f"The API server did not start within {timeout:.0f} s:\n{server.log_tail()}")


@contextmanager
def demo_directory() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="tre-demo-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def find_job(name: str = DEMO_JOB) -> Path:
    """The example job of the checkout (found from this file, or from the working directory)."""
    candidates = [Path(__file__).resolve().parents[2] / "jobs" / name, Path.cwd() / "jobs" / name]
    for candidate in candidates:
        if (candidate / "job.yaml").is_file():
            return candidate
    raise UserError(
        f"Cannot find the example job jobs/{name}.",
        hint="Run `tre demo` from the trusted-env checkout, or pass --job PATH.",
    )


def step(number: int, who: str, text: str) -> None:
    console.print()
    console.rule(f"[bold]{number}. {who}[/]", align="left")
    console.print(text)


def _migrate(data_dir: Path) -> None:
    """Create the control-plane database before the server and worker open it."""
    from trusted_env.control import Database
    from trusted_env.settings import Settings

    Database.from_settings(Settings(data_dir=data_dir)).dispose()


def _set_up_trusted_host(data_dir: Path) -> dict[str, str]:
    """Operator steps on the trusted host: register the dataset, create users; their tokens."""
    from trusted_env.control import Actor, Database, Role, datasets, users
    from trusted_env.dummy import ensure_dummy_dataset
    from trusted_env.schema import load_schema
    from trusted_env.settings import Settings

    schema = load_schema(DEMO_DATASET)
    path = ensure_dummy_dataset(schema, data_dir / "data")
    database = Database.from_settings(Settings(data_dir=data_dir))
    operator = Actor.operator()
    people = {"rita": Role.RESEARCHER, "sam": Role.STEWARD, "pat": Role.POLICY_READER}
    try:
        with database.transaction() as session:
            datasets.register_dataset(
                session,
                operator,
                name=DEMO_DATASET,
                path=path,
                schema=schema,
                budget_epsilon=DEMO_BUDGET,
            )
            tokens = {
                name: users.create_user(session, operator, name, role).token
                for name, role in people.items()
            }
    finally:
        database.dispose()
    console.print(
        f"  tre dataset add {DEMO_DATASET} --path {path.name} --schema {DEMO_DATASET} "
        f"--budget-epsilon {DEMO_BUDGET:g}\n"
        "  tre user add rita --role researcher; tre user add sam --role steward; "
        "tre user add pat --role policy_reader"
    )
    return tokens


def _researcher_submits(url: str, token: str, job: Path) -> int:
    from trusted_env.cli.client import ApiClient, print_run
    from trusted_env.control.runs import RunView
    from trusted_env.spec.job_folder import compile_job

    plan = compile_job(job)
    console.print(
        f"  tre submit jobs/{job.name} --dataset {DEMO_DATASET}   (plan {plan.hash[:12]})"
    )
    with ApiClient(url, token) as rita:
        body = {"dataset": DEMO_DATASET, "plan": plan.model_dump(mode="json")}
        view = RunView.model_validate(rita.post("/runs", body))
    print_run(view)
    return view.id


def _steward_approves(url: str, token: str, run_id: int) -> None:
    from trusted_env.cli import render
    from trusted_env.cli.client import ApiClient, print_run
    from trusted_env.control.review import RunReview
    from trusted_env.control.runs import RunView

    with ApiClient(url, token) as sam:
        waiting = sam.get("/runs", state="submitted")
        console.print(f"  GET /v1/runs?state=submitted -> {len(waiting)} run(s) waiting")
        review = RunReview.model_validate(sam.get(f"/runs/{run_id}/review"))
        render.plan_review(console, review.plan)
        before, after = review.budget_before, review.budget_after
        console.print(
            f"  Budget of {review.run.dataset}: epsilon {before.remaining_epsilon:g} remaining "
            f"now, {after.remaining_epsilon:g} after this run."
        )
        reason = "Aggregates only, public keys, epsilon within the dataset's plan."
        view = RunView.model_validate(sam.post(f"/runs/{run_id}/approve", {"reason": reason}))
    print_run(view)


def _wait_for_release(url: str, token: str, run_id: int, worker: BackgroundProcess) -> int:
    from trusted_env.cli.client import ApiClient, print_run
    from trusted_env.control.runs import RunState, RunView

    deadline = time.monotonic() + RUN_SECONDS
    with ApiClient(url, token) as rita:
        while time.monotonic() < deadline:
            view = RunView.model_validate(rita.get(f"/runs/{run_id}"))
            if view.state in {RunState.RELEASED, RunState.FAILED}:
                print_run(view)
                if view.release_id is None:
                    raise UserError(f"The demo run failed: {view.failure}")
                return view.release_id
            if not worker.running():
                raise UserError(f"The worker exited:\n{worker.log_tail()}")
            time.sleep(0.2)
    raise UserError(f"The run was not released within {RUN_SECONDS:.0f} s.")


def _steward_publishes(url: str, token: str, release_id: int) -> None:
    from trusted_env.cli.client import ApiClient

    with ApiClient(url, token) as sam:
        published = sam.post(f"/releases/{release_id}/publish")
        report = sam.get("/audit/verify")
    console.print(
        f"  POST /v1/releases/{release_id}/publish -> published by {published['published_by']}"
    )
    console.print(
        f"  GET /v1/audit/verify -> {'intact' if report['ok'] else 'TAMPERED'}, "
        f"{report['events']} events, head {report['head_hash'][:16]}..."
    )


def _policy_reader_reads(url: str, token: str, release_id: int) -> None:
    from trusted_env.cli.client import ApiClient, print_release
    from trusted_env.control.releases import ReleaseView

    with ApiClient(url, token) as pat:
        listed = pat.get("/releases", published=True)
        console.print(f"  GET /v1/releases?published=true -> {len(listed)} release(s)")
        view = ReleaseView.model_validate(pat.get(f"/releases/{release_id}"))
        csv = pat.request("GET", f"/releases/{release_id}/download", params={"format": "csv"})
        parquet = pat.request(
            "GET", f"/releases/{release_id}/download", params={"format": "parquet"}
        )
    print_release(view)
    rows = len(csv.text.splitlines()) - 1
    console.print(
        f"  Downloads: CSV {len(csv.content):,} bytes ({rows} cells), Parquet "
        f"{len(parquet.content):,} bytes."
    )


def _show_logs(processes: list[BackgroundProcess]) -> None:
    for process in processes:
        console.print(f"[dim]--- last lines of the {process.name} log ---\n{process.log_tail()}[/]")


def _walkthrough(data_dir: Path, job: Path, processes: list[BackgroundProcess]) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    step(1, "Operator", f"Starts the API server ({url}) and a runner worker.")
    _migrate(data_dir)
    env = child_environment(data_dir)
    server = start_server(data_dir, port, env)
    processes.append(server)
    worker = start_worker(data_dir, env)
    processes.append(worker)
    console.print(f"  tre serve --port {port}   and   tre worker")
    step(2, "Operator", "Registers the dummy dataset as if it were real, and three users.")
    tokens = _set_up_trusted_host(data_dir)
    wait_for_server(url, server)
    step(3, "Researcher (rita)", "Checks the job locally and submits its canonical plan.")
    run_id = _researcher_submits(url, tokens["rita"], job)
    step(4, "Steward (sam)", "Reviews what the run will do and approves it.")
    _steward_approves(url, tokens["sam"], run_id)
    step(5, "Worker", "Claims the approved run, charges the budget, runs it, stores the release.")
    release_id = _wait_for_release(url, tokens["rita"], run_id, worker)
    step(6, "Steward (sam)", "Publishes the release and verifies the audit log.")
    _steward_publishes(url, tokens["sam"], release_id)
    step(7, "Policy reader (pat)", "Reads the published release and downloads it.")
    _policy_reader_reads(url, tokens["pat"], release_id)


def demo(
    job: Annotated[
        Path | None,
        typer.Option(
            "--job", help="Job folder to walk through (default: jobs/diabetes_prevalence)."
        ),
    ] = None,
) -> None:
    """See the whole system: server, worker, researcher, steward and policy reader, narrated."""
    job_dir = job if job is not None else find_job()
    started = time.monotonic()
    console.print(
        "[bold]trusted-env demo[/]: a temporary trusted environment on this machine "
        "(SQLite, dummy data standing in for real data)."
    )
    with demo_directory() as data_dir:
        processes: list[BackgroundProcess] = []
        try:
            _walkthrough(data_dir, job_dir, processes)
        except KeyboardInterrupt:
            console.print("\n[yellow]Interrupted.[/] Stopping the server and worker, cleaning up.")
            raise typer.Exit(130) from None
        except BaseException:
            _show_logs(processes)
            raise
        finally:
            for process in processes:
                process.stop()
    console.print()
    console.print(
        f"[green]Done in {time.monotonic() - started:.0f} s.[/] The server and worker are "
        "stopped and the temporary directory is removed. Next: `tre serve` (README, 'The API')."
    )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
