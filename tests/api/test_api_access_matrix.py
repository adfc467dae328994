"""Who may call what: every endpoint x every role, plus anonymous and a revoked token.

The table is built from the app's own routes and each route's declared access rule, whose roles
come from `control.roles` (the one source of truth). A route without an access rule, or without
a sample request below, fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import BY_ROLE, OPERATOR, World, build_world
from fastapi import FastAPI

from trusted_env.api import create_app
from trusted_env.api.app import check_access_declared
from trusted_env.api.deps import Access, PublicAccess, access_of, api_routes
from trusted_env.control import Database, Role, users
from trusted_env.settings import Settings
from trusted_env.spec.plan import Plan


def _route_app() -> FastAPI:
    # Only the routes are read: the database is never opened.
    return create_app(Settings(), database=Database("sqlite://", migrate=False))


ROUTES = {(method, path): route for method, path, route in api_routes(_route_app())}
CALLERS = ("anonymous", "revoked", *(role.value for role in Role))
MATRIX = [(method, path, caller) for (method, path) in ROUTES for caller in CALLERS]


class MatrixWorld:
    """A control plane with one submitted run, one released run and a spare user."""

    def __init__(self, world: World, plan: Plan) -> None:
        self.world = world
        self.submitted = world.submit("rita", plan)
        self.to_approve = world.submit("rita", plan)
        self.to_reject = world.submit("rita", plan)
        released = world.submit("rita", plan)
        world.approve("sue", released)
        assert world.work() == released
        self.release = world.release_of(released)
        with world.db.transaction() as session:
            world.tokens["revoked"] = users.create_user(
                session, OPERATOR, "rex", Role.RESEARCHER
            ).token
            users.create_user(session, OPERATOR, "victim", Role.RESEARCHER)
        with world.db.transaction() as session:
            users.revoke_tokens(session, OPERATOR, "rex")
        self.plan = plan

    def sample(self, method: str, path: str) -> dict[str, Any]:
        """A request that is valid for the endpoint, so allowed callers get past validation."""
        run, release = {"run_id": self.submitted}, {"release_id": self.release}
        samples: dict[tuple[str, str], dict[str, Any]] = {
            ("GET", "/v1/health"): {},
            ("POST", "/v1/runs"): {
                "json": {"dataset": "gp", "plan": self.plan.model_dump(mode="json")}
            },
            ("GET", "/v1/runs"): {"params": {"state": "submitted"}},
            ("GET", "/v1/runs/{run_id}"): {"path": run},
            ("GET", "/v1/runs/{run_id}/review"): {"path": run},
            ("POST", "/v1/runs/{run_id}/cancel"): {"path": run},
            ("POST", "/v1/runs/{run_id}/approve"): {
                "path": {"run_id": self.to_approve},
                "json": {"reason": "ok"},
            },
            ("POST", "/v1/runs/{run_id}/reject"): {
                "path": {"run_id": self.to_reject},
                "json": {"reason": "no"},
            },
            ("GET", "/v1/datasets"): {},
            ("GET", "/v1/datasets/{name}"): {"path": {"name": "gp"}},
            ("PUT", "/v1/datasets/{name}/budget"): {"path": {"name": "gp"}, "json": {"epsilon": 9}},
            ("GET", "/v1/releases"): {"params": {"dataset": "gp"}},
            ("GET", "/v1/releases/{release_id}"): {"path": release},
            ("GET", "/v1/releases/{release_id}/download"): {
                "path": release,
                "params": {"format": "csv"},
            },
            ("POST", "/v1/releases/{release_id}/publish"): {"path": release},
            ("GET", "/v1/me"): {},
            ("GET", "/v1/users"): {},
            ("POST", "/v1/users"): {"json": {"name": "newbie", "role": "researcher"}},
            ("POST", "/v1/users/{name}/tokens"): {"path": {"name": "victim"}},
            ("DELETE", "/v1/users/{name}/tokens"): {"path": {"name": "victim"}},
            ("GET", "/v1/audit/events"): {"params": {"limit": 5}},
            ("GET", "/v1/audit/verify"): {},
        }
        if (method, path) not in samples:
            pytest.fail(f"{method} {path} has no sample request in the access matrix: add one.")
        return samples[(method, path)]

    def send(self, method: str, path: str, caller: str) -> Any:
        sample = self.sample(method, path)
        url = path.format(**sample.get("path", {}))
        roles = {role.value: role for role in Role}
        who = (
            None if caller == "anonymous" else BY_ROLE[roles[caller]] if caller in roles else caller
        )
        kwargs = {key: sample[key] for key in ("json", "params") if key in sample}
        return self.world.call(who, method, url, **kwargs)


@pytest.fixture(scope="module")
def matrix(
    tmp_path_factory: pytest.TempPathFactory, api_dataset_file: Path, diabetes_plan: Plan
) -> Iterator[MatrixWorld]:
    world = build_world(tmp_path_factory.mktemp("matrix"), api_dataset_file)
    try:
        yield MatrixWorld(world, diabetes_plan)
    finally:
        world.client.close()
        world.db.dispose()


@pytest.fixture(scope="module")
def openapi(matrix: MatrixWorld) -> dict[str, Any]:
    document: dict[str, Any] = matrix.world.client.get("/openapi.json").json()
    return document


@pytest.mark.parametrize(("method", "path", "caller"), MATRIX, ids=[" ".join(m) for m in MATRIX])
def test_access(
    matrix: MatrixWorld, openapi: dict[str, Any], method: str, path: str, caller: str
) -> None:
    access = access_of(ROUTES[(method, path)])
    assert access is not None, f"{method} {path} declares no access rule"
    response = matrix.send(method, path, caller)
    is_json = response.headers["content-type"] == "application/json"
    body = response.json() if is_json and response.status_code >= 400 else {}
    documented = openapi["paths"][path][method.lower()]["responses"]
    assert str(response.status_code) in documented, (response.status_code, body)
    if isinstance(access, PublicAccess):
        assert response.status_code == 200
    elif caller in ("anonymous", "revoked"):
        assert (response.status_code, body["code"]) == (401, "unauthenticated")
        assert response.headers["WWW-Authenticate"] == "Bearer"
    elif Role(caller) in access.roles:
        assert response.status_code < 500, body
        assert response.status_code != 401, body
        assert body.get("code") != "role_forbidden", body
    else:
        assert (response.status_code, body["code"]) == (403, "role_forbidden"), body
        # Refused before any lookup: the body never depends on the resource.
        assert "run" not in body["message"].lower()


def test_every_route_declares_its_roles_in_the_openapi_document(openapi: dict[str, Any]) -> None:
    assert len(ROUTES) >= 20
    for (method, path), route in ROUTES.items():
        access = access_of(route)
        assert isinstance(access, Access | PublicAccess), f"{method} {path}"
        operation = openapi["paths"][path][method.lower()]
        expected = [] if isinstance(access, PublicAccess) else [r.value for r in access.roles]
        assert operation["x-roles"] == expected
        if not isinstance(access, PublicAccess):
            assert operation["security"] == [{"ApiToken": []}]
            assert "401" in operation["responses"]
            if set(access.roles) != set(Role):
                assert "403" in operation["responses"]


def test_an_endpoint_without_an_access_rule_is_refused() -> None:
    app = _route_app()
    app.add_api_route("/v1/undeclared", lambda: {"ok": True})
    with pytest.raises(RuntimeError, match="declares no access rule"):
        check_access_declared(app)


def test_the_roles_follow_the_control_planes_permissions() -> None:
    def roles(method: str, path: str) -> set[Role]:
        access = access_of(ROUTES[(method, path)])
        assert access is not None
        return set(access.roles)

    assert roles("POST", "/v1/runs/{run_id}/approve") == {Role.STEWARD}
    assert roles("POST", "/v1/releases/{release_id}/publish") == {Role.STEWARD}
    assert roles("POST", "/v1/users") == {Role.ADMIN}
    assert roles("GET", "/v1/audit/verify") == {Role.STEWARD, Role.ADMIN}
    assert Role.POLICY_READER not in roles("GET", "/v1/runs/{run_id}")
    assert Role.POLICY_READER in roles("GET", "/v1/releases/{release_id}/download")
