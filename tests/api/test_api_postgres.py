"""The API on PostgreSQL: one flow end to end, and ids at the edge of its 32-bit integers.

The control plane's own tests cover PostgreSQL in depth; this checks that the HTTP layer adds
nothing backend-specific (time zones of query dates, integer ranges).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from api_support import DATASET, World, build_world
from psycopg import sql

from trusted_env.api.deps import MAX_ID
from trusted_env.spec.plan import Plan

POSTGRES_URL = os.environ.get("TRE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_world(tmp_path: Path, api_dataset_file: Path) -> Iterator[World]:
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("TRE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc}")
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc}")
    schema = f"api_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = f"{POSTGRES_URL}?options={quote(f'-csearch_path={schema}')}"
    world = build_world(tmp_path, api_dataset_file, database_url=url)
    try:
        yield world
    finally:
        world.client.close()
        world.db.dispose()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def test_the_flow_on_postgresql(pg_world: World, diabetes_plan: Plan) -> None:
    world = pg_world
    assert world.db.backend == "postgresql"
    run_id = world.submit("rita", diabetes_plan)
    world.approve("sam", run_id)
    assert world.work() == run_id
    release_id = world.release_of(run_id)
    world.ok("sam", "POST", f"/v1/releases/{release_id}/publish")
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    for since in (hour_ago.isoformat(), hour_ago.strftime("%Y-%m-%dT%H:%M:%S")):
        listed = world.ok("pat", "GET", "/v1/releases", params={"since": since, "dataset": DATASET})
        assert [r["id"] for r in listed] == [release_id]
    assert world.call("pat", "GET", f"/v1/releases/{MAX_ID}").status_code == 404
    assert world.call("sam", "GET", f"/v1/runs/{MAX_ID}").status_code == 404
    assert world.call("sam", "GET", f"/v1/runs/{MAX_ID + 1}").status_code == 422
    events = world.ok("sam", "GET", "/v1/audit/events", params={"run_id": MAX_ID})
    assert events == []
    assert world.ok("sam", "GET", "/v1/audit/verify")["ok"] is True
