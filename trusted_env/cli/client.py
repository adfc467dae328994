"""The researcher's client: `tre submit`, `tre runs`, `tre status`, `tre release`.

They talk to the API server at `TRE_URL` with the token in `TRE_TOKEN`. `tre submit` compiles
the job folder locally (the same validation as `tre check`) and sends only its canonical plan:
the server never receives researcher files, let alone code.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from trusted_env.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDenied,
    UserError,
)

if TYPE_CHECKING:
    import httpx

    from trusted_env.control.releases import ReleaseView
    from trusted_env.control.runs import RunView
    from trusted_env.settings import Settings

API_PREFIX = "/v1"
console = Console(highlight=False)

_ERRORS_BY_STATUS: dict[int, type[UserError]] = {
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFoundError,
    409: ConflictError,
}


def _refusal(response: httpx.Response) -> UserError:
    """The server's error body as a UserError the CLI prints without a traceback."""
    try:
        body = response.json()
        message = str(body["message"])
    except (ValueError, KeyError, TypeError):
        message = f"The server answered {response.status_code} {response.reason_phrase}."
    if response.status_code == 401:
        return AuthenticationError(
            "The server refused TRE_TOKEN: it is not a valid token (unknown or revoked).",
            hint="Ask an administrator for a new token (`tre user token NAME`) and set "
            "TRE_TOKEN to it.",
        )
    if response.status_code >= 500:
        return UserError(
            f"The server could not handle the request ({response.status_code}): {message}",
            hint="Try again later; if it persists, tell the administrators.",
        )
    return _ERRORS_BY_STATUS.get(response.status_code, UserError)(message)


class ApiClient:
    """A small typed wrapper over httpx that turns every failure into a clear UserError."""

    def __init__(self, url: str, token: str | None, *, timeout: float = 30.0) -> None:
        import httpx

        if not url.startswith(("http://", "https://")):
            raise UserError(
                f"TRE_URL '{url}' is not an http(s) address.",
                hint="Set it like TRE_URL=http://127.0.0.1:8000.",
            )
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url + API_PREFIX, headers=headers, timeout=timeout)

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        import httpx

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.ConnectError:
            raise UserError(
                f"Cannot reach the trusted-env server at {self.url}.",
                hint="Check TRE_URL and that the server is running (`tre serve`).",
            ) from None
        except httpx.TimeoutException:
            raise UserError(
                f"The server at {self.url} did not answer in time.", hint="Try again later."
            ) from None
        except httpx.HTTPError as exc:
            raise UserError(
                f"Talking to {self.url} failed ({type(exc).__name__}).",
                hint="Check TRE_URL and your network connection.",
            ) from None
        if response.status_code >= 400:
            raise _refusal(response)
        return response

    def get(self, path: str, **params: Any) -> Any:
        query = {key: value for key, value in params.items() if value is not None}
        return self.request("GET", path, params=query).json()

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.request("POST", path, json=body).json()


def client_from(settings: Settings) -> ApiClient:
    if not settings.url:
        raise UserError(
            "TRE_URL is not set.",
            hint="Set it to the trusted-env server, e.g. export TRE_URL=http://127.0.0.1:8000.",
        )
    if settings.token is None or not settings.token.get_secret_value().strip():
        raise UserError(
            "TRE_TOKEN is not set.", hint="Set it to the API token your administrator gave you."
        )
    return ApiClient(settings.url, settings.token.get_secret_value().strip())


def connect() -> ApiClient:
    """A client for TRE_URL and TRE_TOKEN (the settings load here, not when `tre` starts)."""
    from trusted_env.settings import get_settings

    return client_from(get_settings())


def _run_view(data: Any) -> RunView:
    from trusted_env.control.runs import RunView

    return RunView.model_validate(data)


def print_run(view: RunView, out: Console = console) -> None:
    from trusted_env.cli import render

    render.run_summary(out, view, "tre release", decision_time=False)


def submit(
    job: Annotated[
        Path,
        typer.Argument(
            help="Job folder (contains job.yaml), or a plan from `tre check --plan-out`.",
            exists=True,
        ),
    ],
    dataset: Annotated[str, typer.Option("--dataset", help="Registered dataset to run on.")],
) -> None:
    """Submit a job to the trusted environment for a data steward's decision."""
    from trusted_env.control.runs import parse_plan
    from trusted_env.spec.job_folder import compile_job

    plan = compile_job(job) if job.is_dir() else parse_plan(job.read_text(encoding="utf-8"))
    with connect() as client:
        body = {"dataset": dataset, "plan": plan.model_dump(mode="json")}
        view = _run_view(client.post("/runs", body))
    print_run(view)
    console.print(f"Waiting for a steward's decision; follow it with `tre status {view.id}`.")


def runs(
    state: Annotated[str | None, typer.Option("--state", help="Only runs in this state.")] = None,
) -> None:
    """Your runs on the trusted environment, newest first."""
    with connect() as client:
        views = [_run_view(item) for item in client.get("/runs", state=state, mine=True)]
    if not views:
        console.print("No runs yet (`tre submit JOB --dataset NAME`).")
        return
    table = Table()
    for header in ("run", "job", "dataset", "state", "epsilon", "submitted", "decided by"):
        table.add_column(header, overflow="fold", no_wrap=header in {"run", "state"})
    for v in views:
        table.add_row(
            str(v.id),
            v.job_name,
            v.dataset,
            v.state.value,
            f"{v.epsilon:g}",
            v.submitted_at.strftime("%d %b %H:%M"),
            v.decision.steward if v.decision else "",
        )
    console.print(table)


def status(run: Annotated[int, typer.Argument(help="The run's number.")]) -> None:
    """One run's state, the steward's decision, and what went wrong if it failed."""
    with connect() as client:
        print_run(_run_view(client.get(f"/runs/{run}")))


def print_release(view: ReleaseView, out: Console = console) -> None:
    from trusted_env.cli import render

    published = f"published {view.published_at:%Y-%m-%d}" if view.published_at else "unpublished"
    out.print(
        f"[bold]{view.job_name}[/] — {view.job_description}\n"
        f"Release {view.id} of run {view.run_id} on dataset {view.dataset} ({published}); "
        f"epsilon spent {view.epsilon:g}, delta {view.delta:g}; plan {view.plan_hash[:12]}"
    )
    if view.approval is not None:
        out.print(f"Approved by {view.approval.steward}: {view.approval.reason}")
    render.release_tables(out, view.release, None)


def release(
    run: Annotated[int, typer.Argument(help="The run whose release to show or download.")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="Download as csv, json or parquet.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="File to write the download to.")
    ] = None,
) -> None:
    """Show your run's release (estimates with 95% intervals), or download it."""
    from trusted_env.control.releases import ExportFormat, ReleaseView

    chosen = _export_format(fmt, out)
    with connect() as client:
        view = _run_view(client.get(f"/runs/{run}"))
        if view.release_id is None:
            raise UserError(
                f"Run {run} has no release: it is {view.state.value}.",
                hint=f"`tre status {run}` says why.",
            )
        if chosen is None:
            print_release(ReleaseView.model_validate(client.get(f"/releases/{view.release_id}")))
            return
        path = f"/releases/{view.release_id}/download"
        data = client.request("GET", path, params={"format": chosen}).content
    if out is not None:
        out.write_bytes(data)
        console.print(f"Wrote {out} ({chosen}, {len(data):,} bytes).")
    elif chosen == ExportFormat.PARQUET.value:
        raise UserError("Parquet is a binary format: give a file with --out.")
    else:
        sys.stdout.write(data.decode("utf-8"))


def _export_format(fmt: str | None, out: Path | None) -> str | None:
    from trusted_env.control.releases import ExportFormat

    if fmt is None and out is None:
        return None
    chosen = (fmt or (out.suffix.lstrip(".") if out is not None else "")).lower()
    if chosen not in {member.value for member in ExportFormat}:
        raise UserError(
            f"Unknown download format '{chosen}'.", hint="Use --format csv, json or parquet."
        )
    return chosen


def register(app: typer.Typer) -> None:
    app.command("submit")(submit)
    app.command("runs")(runs)
    app.command("status")(status)
    app.command("release")(release)
