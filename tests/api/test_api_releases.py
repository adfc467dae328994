"""Releases over HTTP: authors read theirs, stewards publish, policy readers read and download."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from api_support import DATASET, World

from trusted_env.spec.plan import Plan


def number(cell: str) -> float | None:
    """A CSV cell as a float; empty for a cell without an estimate."""
    return float(cell) if cell else None


@pytest.fixture
def released(world: World, diabetes_plan: Plan) -> tuple[int, int]:
    """(run id, release id) of rita's diabetes_prevalence run, approved by sam and run."""
    run_id = world.submit("rita", diabetes_plan)
    world.approve("sam", run_id, "Aggregates only.")
    assert world.work() == run_id
    return run_id, world.release_of(run_id)


def test_the_author_reads_the_release_before_it_is_published(
    world: World, released: tuple[int, int], diabetes_plan: Plan
) -> None:
    run_id, release_id = released
    view = world.ok("rita", "GET", f"/v1/releases/{release_id}")
    assert (view["run_id"], view["dataset"], view["author"]) == (run_id, DATASET, "rita")
    assert view["plan_hash"] == diabetes_plan.hash and view["published_at"] is None
    assert view["approval"]["steward"] == "sam"
    assert [r["id"] for r in world.ok("rita", "GET", "/v1/releases")] == [release_id]
    for other in ("ravi", "pat"):
        hidden = world.call(other, "GET", f"/v1/releases/{release_id}")
        assert hidden.status_code == 404 and hidden.json()["code"] == "not_found"
        assert world.ok(other, "GET", "/v1/releases") == []


def test_a_published_release_carries_provenance_and_every_cells_interval(
    world: World, released: tuple[int, int], diabetes_plan: Plan
) -> None:
    _, release_id = released
    published = world.ok("sam", "POST", f"/v1/releases/{release_id}/publish")
    assert published["published_by"] == "sam" and published["published_at"]
    again = world.call("sam", "POST", f"/v1/releases/{release_id}/publish")
    assert again.status_code == 409
    view = world.ok("pat", "GET", f"/v1/releases/{release_id}")
    assert view["job_name"] == "diabetes_prevalence"
    assert view["job_description"] == diabetes_plan.job_description
    assert (view["plan_hash"], view["epsilon"]) == (diabetes_plan.hash, 1.0)
    assert view["approval"]["reason"] == "Aggregates only."
    outputs = view["release"]["outputs"]
    assert {o["name"] for o in outputs} == {p.output.name for p in diabetes_plan.outputs}
    cells = [row for output in outputs for row in output["rows"]]
    assert len(cells) == 72 + 9 + 4
    for row in cells:
        assert row["estimate"] is None or row["ci_low"] <= row["estimate"] <= row["ci_high"]


def test_policy_readers_filter_published_releases(
    world: World, released: tuple[int, int], flu_plan: Plan
) -> None:
    _, release_id = released
    flu_run = world.submit("ravi", flu_plan)
    world.approve("sam", flu_run)
    assert world.work() == flu_run
    flu_release = world.release_of(flu_run)
    for published in (release_id, flu_release):
        world.ok("sam", "POST", f"/v1/releases/{published}/publish")

    def ids(**params: object) -> list[int]:
        return [r["id"] for r in world.ok("pat", "GET", "/v1/releases", params=params)]

    assert ids() == [flu_release, release_id]
    assert ids(job="flu_vaccine_uptake") == [flu_release]
    assert ids(dataset=DATASET, published=True) == [flu_release, release_id]
    assert ids(dataset="elsewhere") == []
    now = datetime.now(UTC)
    assert ids(since=(now - timedelta(hours=1)).isoformat()) == [flu_release, release_id]
    assert ids(until=(now - timedelta(hours=1)).isoformat()) == []
    assert ids(since=(now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")) == []


def test_downloads_in_csv_json_and_parquet_agree(world: World, released: tuple[int, int]) -> None:
    _, release_id = released
    world.ok("sam", "POST", f"/v1/releases/{release_id}/publish")
    path = f"/v1/releases/{release_id}/download"
    view = world.ok("pat", "GET", f"/v1/releases/{release_id}")

    def download(fmt: str) -> bytes:
        response = world.call("pat", "GET", path, params={"format": fmt})
        assert response.status_code == 200, response.text
        disposition = response.headers["content-disposition"]
        assert f'filename="diabetes_prevalence-release-{release_id}.{fmt}"' in disposition
        return bytes(response.content)

    rows = list(csv.DictReader(io.StringIO(download("csv").decode("utf-8"))))
    frame = pl.read_parquet(io.BytesIO(download("parquet")))
    document = json.loads(download("json"))
    assert document["release"] == view["release"]
    expected = {
        (o["name"], json.dumps(r["keys"], sort_keys=True), r["estimate"])
        for o in view["release"]["outputs"]
        for r in o["rows"]
    }
    assert len(rows) == frame.height == len(expected) == 85
    assert set(frame.columns) >= {"output", "group", "estimate", "ci_low", "ci_high"}
    from_parquet = {
        (row["output"], json.dumps(json.loads(row["group"]), sort_keys=True), row["estimate"])
        for row in frame.iter_rows(named=True)
    }
    assert from_parquet == expected
    assert {(row["output"], number(row["estimate"])) for row in rows} == {
        (name, estimate) for name, _, estimate in expected
    }


def test_an_unknown_download_format_names_the_parameter(
    world: World, released: tuple[int, int]
) -> None:
    _, release_id = released
    response = world.call(
        "rita", "GET", f"/v1/releases/{release_id}/download", params={"format": "xlsx"}
    )
    assert response.status_code == 422
    assert response.json()["field"] == "format" and "csv" in response.json()["message"]
