"""Users and tokens (administrators), `/me`, and the audit log (stewards, administrators)."""

from __future__ import annotations

from api_support import World

from trusted_env.spec.plan import Plan


def test_an_administrator_creates_a_user_whose_token_works_until_revoked(world: World) -> None:
    created = world.call("ada", "POST", "/v1/users", json={"name": "nina", "role": "steward"})
    assert created.status_code == 201
    issued = created.json()
    assert issued["user"]["name"] == "nina" and issued["token"].startswith("tre_")
    nina = {"Authorization": f"Bearer {issued['token']}"}
    me = world.client.get("/v1/me", headers=nina).json()
    assert (me["name"], me["role"]) == ("nina", "steward")
    assert "approve or reject runs" in me["permissions"]
    second = world.call("ada", "POST", "/v1/users/nina/tokens")
    assert second.status_code == 201
    listed = {u["name"]: u for u in world.ok("ada", "GET", "/v1/users")}
    assert listed["nina"]["active_tokens"] == 2
    one = world.ok(
        "ada", "DELETE", "/v1/users/nina/tokens", params={"token_id": issued["token_id"]}
    )
    assert one == {"revoked": 1}
    assert world.client.get("/v1/me", headers=nina).status_code == 401
    other = {"Authorization": f"Bearer {second.json()['token']}"}
    assert world.client.get("/v1/me", headers=other).status_code == 200
    assert world.ok("ada", "DELETE", "/v1/users/nina/tokens") == {"revoked": 1}
    assert world.client.get("/v1/me", headers=other).status_code == 401
    assert world.call("ada", "DELETE", "/v1/users/ghost/tokens").status_code == 404


def test_tokens_are_never_listed(world: World) -> None:
    listed = world.call("ada", "GET", "/v1/users")
    for token in world.tokens.values():
        assert token not in listed.text
        assert token[4:20] not in listed.text


def test_the_audit_log_records_each_step_and_verifies(world: World, diabetes_plan: Plan) -> None:
    run_id = world.submit("rita", diabetes_plan)
    world.approve("sam", run_id, "ok")
    assert world.work() == run_id
    release_id = world.release_of(run_id)
    world.ok("sam", "POST", f"/v1/releases/{release_id}/publish")
    events = world.ok("sam", "GET", "/v1/audit/events", params={"run_id": run_id})
    assert [e["action"] for e in reversed(events)] == [
        "run.submitted",
        "run.approved",
        "run.started",
        "budget.charged",
        "run.released",
        "release.published",
    ]
    assert [e["actor"] for e in reversed(events)][:2] == ["rita", "sam"]
    approvals = world.ok("ada", "GET", "/v1/audit/events", params={"action": "run.approved"})
    assert [e["run_id"] for e in approvals] == [run_id]
    report = world.ok("sam", "GET", "/v1/audit/verify")
    assert report["ok"] is True and report["problems"] == []
    head = report["head_hash"]
    assert world.ok("sam", "GET", "/v1/audit/verify", params={"expected_head": head})["ok"]
    stale = world.ok("sam", "GET", "/v1/audit/verify", params={"expected_head": "a" * 64})
    assert stale["ok"] is False and stale["problems"]
