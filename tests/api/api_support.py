"""Helpers of the API tests: a control plane with people, a dataset and runs, and its app.

Everything is real: a SQLite control-plane database in a temporary directory, a small dummy
DuckDB dataset, the real job folders of `jobs/`, the in-process worker, and FastAPI's test
client speaking HTTP semantics to the real app.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from trusted_env.api import create_app
from trusted_env.control import Actor, Database, Role, datasets, users
from trusted_env.control.worker import Worker
from trusted_env.schema import load_schema
from trusted_env.settings import Settings
from trusted_env.spec.plan import Plan

REPO = Path(__file__).resolve().parents[2]
JOBS = REPO / "jobs"
OPERATOR = Actor.operator()
DATASET = "gp"

PEOPLE: dict[str, Role] = {
    "rita": Role.RESEARCHER,
    "ravi": Role.RESEARCHER,
    "sam": Role.STEWARD,
    "sue": Role.STEWARD,
    "pat": Role.POLICY_READER,
    "ada": Role.ADMIN,
}
# The user who speaks for each role in the access matrix.
BY_ROLE: dict[Role, str] = {
    Role.RESEARCHER: "rita",
    Role.STEWARD: "sam",
    Role.POLICY_READER: "pat",
    Role.ADMIN: "ada",
}


@dataclass
class World:
    """A control plane with its app: `client` speaks to it; `headers(name)` authenticates."""

    db: Database
    settings: Settings
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def call(self, who: str | None, method: str, path: str, **kwargs: Any) -> Any:
        headers = {} if who is None else self.headers(who)
        return self.client.request(method, path, headers=headers, **kwargs)

    def ok(self, who: str, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(who, method, path, **kwargs)
        assert response.status_code < 300, response.text
        return response.json()

    def submit(self, who: str, plan: Plan, dataset: str = DATASET) -> int:
        body = {"dataset": dataset, "plan": plan.model_dump(mode="json")}
        return int(self.ok(who, "POST", "/v1/runs", json=body)["id"])

    def approve(self, who: str, run_id: int, reason: str = "fine") -> Any:
        return self.ok(who, "POST", f"/v1/runs/{run_id}/approve", json={"reason": reason})

    def work(self) -> int | None:
        """One iteration of a real worker on this control plane."""
        return Worker(self.db, self.settings).run_once()

    def release_of(self, run_id: int) -> int:
        release_id = self.ok("sam", "GET", f"/v1/runs/{run_id}")["release_id"]
        assert isinstance(release_id, int)
        return release_id


def build_world(
    data_dir: Path,
    dataset_file: Path,
    budget_epsilon: float = 3.0,
    busy_timeout: float = 30.0,
    database_url: str | None = None,
) -> World:
    settings = Settings(
        data_dir=data_dir, sqlite_busy_timeout_seconds=busy_timeout, database_url=database_url
    )
    db = Database.from_settings(settings)
    with db.transaction() as session:
        datasets.register_dataset(
            session,
            OPERATOR,
            name=DATASET,
            path=dataset_file,
            schema=load_schema("primary_care"),
            budget_epsilon=budget_epsilon,
        )
        tokens = {
            name: users.create_user(session, OPERATOR, name, role).token
            for name, role in PEOPLE.items()
        }
    app = create_app(settings, database=db)
    client = TestClient(app, raise_server_exceptions=False)
    return World(db=db, settings=settings, client=client, tokens=tokens)


def write_job(folder: Path, *, sql: str, epsilon: float = 1.0, name: str = "sex_counts") -> Path:
    """A job counting patients by sex (public keys) with the given cohort SQL."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "job.yaml").write_text(
        f"name: {name}\n"
        "description: Patients by recorded sex.\n"
        "dataset: primary_care\n"
        f"budget:\n  epsilon: {epsilon}\n"
        "outputs:\n"
        "  - name: patients_by_sex\n"
        "    type: count\n"
        "    group_by:\n"
        "      - column: sex\n"
        "        keys_from: patients.sex\n",
        encoding="utf-8",
    )
    (folder / "cohort.sql").write_text(sql + "\n", encoding="utf-8")
    return folder
