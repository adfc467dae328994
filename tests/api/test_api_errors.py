"""One error shape everywhere, validation errors naming the field, and nothing internal leaking."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Annotated, Any

from api_support import World, build_world
from fastapi import Depends
from fastapi.testclient import TestClient
from sqlalchemy import text

from trusted_env.api import create_app
from trusted_env.api.deps import PUBLIC, Access, SessionDep
from trusted_env.control import Actor, Permission

DATA_VALUE = "patient 4711 has HbA1c 97"
SHAPE = {"status", "code", "message", "field"}


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == SHAPE
    assert (body["status"], body["code"]) == (status, code)
    assert body["message"].strip()
    return body


def test_every_kind_of_refusal_has_the_same_shape(world: World) -> None:
    _error(world.call(None, "GET", "/v1/runs"), 401, "unauthenticated")
    bad_token = world.client.get("/v1/runs", headers={"Authorization": "Bearer tre_nope"})
    assert "revoked" in _error(bad_token, 401, "unauthenticated")["message"]
    basic = world.client.get("/v1/runs", headers={"Authorization": "Basic dXNlcjpwdw=="})
    _error(basic, 401, "unauthenticated")
    _error(world.call("pat", "GET", "/v1/runs"), 403, "role_forbidden")
    _error(world.call("rita", "GET", "/v1/runs/424242"), 404, "not_found")
    _error(world.call("rita", "GET", "/v1/no-such-thing"), 404, "not_found")
    _error(world.call("rita", "PATCH", "/v1/runs"), 405, "method_not_allowed")
    duplicate = world.call("ada", "POST", "/v1/users", json={"name": "rita", "role": "steward"})
    _error(duplicate, 409, "conflict")
    bad_name = world.call("ada", "POST", "/v1/users", json={"name": "Rita!", "role": "steward"})
    assert "lowercase" in _error(bad_name, 400, "invalid_input")["message"]


def test_validation_errors_name_the_field(world: World) -> None:
    path = _error(world.call("rita", "GET", "/v1/runs/abc"), 422, "invalid_request")
    assert path["field"] == "run_id" and "Path parameter 'run_id'" in path["message"]
    huge = _error(world.call("rita", "GET", f"/v1/runs/{2**40}"), 422, "invalid_request")
    assert huge["field"] == "run_id"
    query = _error(
        world.call("sam", "GET", "/v1/runs", params={"state": "lost"}), 422, "invalid_request"
    )
    assert query["field"] == "state" and "submitted" in query["message"]
    missing = _error(
        world.call("sam", "POST", "/v1/runs/1/approve", json={}), 422, "invalid_request"
    )
    assert missing["field"] == "reason"
    extra = world.call("ada", "POST", "/v1/users", json={"name": "x", "role": "steward", "y": 1})
    assert _error(extra, 422, "invalid_request")["field"] == "y"
    role = world.call("ada", "POST", "/v1/users", json={"name": "xavier", "role": "king"})
    assert _error(role, 422, "invalid_request")["field"] == "role"


def test_bodies_that_are_not_json_are_refused_clearly(world: World) -> None:
    response = world.client.post(
        "/v1/runs",
        content=b'{"dataset": "gp", "plan": ',
        headers={**world.headers("rita"), "Content-Type": "application/json"},
    )
    assert "not valid JSON" in _error(response, 422, "invalid_request")["message"]
    empty = world.call("rita", "POST", "/v1/runs")
    assert "JSON body" in _error(empty, 422, "invalid_request")["message"]


def test_a_bug_is_a_generic_500_without_traceback_sql_or_data(world: World) -> None:
    app = world.client.app

    def crash(_: Annotated[None, Depends(PUBLIC)]) -> None:
        raise RuntimeError(f"SELECT * FROM patients WHERE note = '{DATA_VALUE}'")

    def broken_sql(
        _: Annotated[Actor, Depends(Access(Permission.READ_AUDIT))], session: SessionDep
    ) -> None:
        session.execute(text(f"SELECT '{DATA_VALUE}' FROM no_such_table"))

    app.add_api_route("/v1/test-crash", crash)  # type: ignore[attr-defined]
    app.add_api_route("/v1/test-broken-sql", broken_sql)  # type: ignore[attr-defined]
    for who, path in ((None, "/v1/test-crash"), ("sam", "/v1/test-broken-sql")):
        response = world.call(who, "GET", path)
        body = _error(response, 500, "internal_error")
        assert "administrators" in body["message"]
        for leak in (DATA_VALUE, "Traceback", "SELECT", "no_such_table", "RuntimeError", "sqlite"):
            assert leak not in response.text


def test_a_locked_database_is_a_503_that_says_to_retry(
    tmp_path: Path, api_dataset_file: Path
) -> None:
    world = build_world(tmp_path, api_dataset_file, busy_timeout=0.2)
    blocker = sqlite3.connect(tmp_path / "control.db", isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        response = world.call("rita", "GET", "/v1/runs")
        body = _error(response, 503, "database_unavailable")
        assert "Retry" in body["message"] and response.headers["retry-after"] == "2"
        assert "locked" not in response.text
        blocker.execute("ROLLBACK")
        assert world.call("rita", "GET", "/v1/runs").status_code == 200
    finally:
        blocker.close()
        world.client.close()
        world.db.dispose()


def test_an_oversized_body_is_refused_in_the_same_shape(world: World) -> None:
    app = create_app(world.settings, database=world.db, max_body_bytes=1000)
    with TestClient(app, raise_server_exceptions=False) as client:
        headers = {**world.headers("rita"), "Content-Type": "application/json"}
        declared = client.post("/v1/runs", content=b" " * 5000, headers=headers)
        streamed = client.post("/v1/runs", content=iter([b" " * 800, b" " * 800]), headers=headers)
    for response in (declared, streamed):
        body = _error(response, 413, "too_large")
        assert "1000 bytes" in body["message"]
