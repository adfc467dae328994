"""Property-based tests of the API against its own OpenAPI document (schemathesis).

Every operation gets generated requests (valid and invalid) with a token of a role that may
call it; no response may be a 5xx or differ from what the document says (status, content type,
headers, body schema). Bounded by a small number of examples per operation, without shrinking
or an example database, so it runs in the normal suite in seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from api_support import BY_ROLE, World, build_world
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from trusted_env.api import create_app
from trusted_env.api.deps import access_of, api_routes
from trusted_env.control import Database, Role
from trusted_env.settings import Settings
from trusted_env.spec.plan import Plan

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
]
MAX_EXAMPLES = 15
# Stewards reach most endpoints, administrators the rest (users and tokens).
PREFERENCE = (Role.STEWARD, Role.ADMIN, Role.RESEARCHER, Role.POLICY_READER)


class FuzzWorld:
    """A control plane with runs in several states and a published release to find."""

    def __init__(self, world: World, plan: Plan) -> None:
        self.world = world
        world.submit("rita", plan)
        released = world.submit("rita", plan)
        world.approve("sue", released)
        assert world.work() == released
        world.ok("sam", "POST", f"/v1/releases/{world.release_of(released)}/publish")
        self.caller: dict[tuple[str, str], str] = {}
        for method, path, route in api_routes(world.client.app):  # type: ignore[arg-type]
            access = access_of(route)
            assert access is not None
            role = next(role for role in PREFERENCE if role in access.roles)
            self.caller[(method, path)] = BY_ROLE[role]

    def headers_for(self, method: str, path: str) -> dict[str, str]:
        return self.world.headers(self.caller[(method.upper(), path)])


@pytest.fixture(scope="module")
def fuzz(
    tmp_path_factory: pytest.TempPathFactory, api_dataset_file: Path, diabetes_plan: Plan
) -> Iterator[FuzzWorld]:
    world = build_world(tmp_path_factory.mktemp("fuzz"), api_dataset_file)
    try:
        yield FuzzWorld(world, diabetes_plan)
    finally:
        world.client.close()
        world.db.dispose()


@pytest.fixture(scope="module")
def api_schema(fuzz: FuzzWorld) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz.world.client.app)


def _operations() -> list[tuple[str, str]]:
    app = create_app(Settings(), database=Database("sqlite://", migrate=False))
    return [(method, path) for method, path, _ in api_routes(app)]


# Driven by hypothesis directly: schemathesis' own pytest plugin does not run on pytest 9 yet.
OPERATIONS = _operations()


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[" ".join(op) for op in OPERATIONS])
def test_the_api_keeps_to_its_openapi_document(
    fuzz: FuzzWorld, api_schema: Any, method: str, path: str
) -> None:
    operation = api_schema[path][method]
    headers = fuzz.headers_for(method, path)
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @given(case=cases)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def conforms(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    conforms()
