"""Runs over HTTP: researchers submit, follow and cancel; stewards review and decide."""

from __future__ import annotations

from pathlib import Path

from api_support import DATASET, World, write_job

from trusted_env.spec.job_folder import compile_job
from trusted_env.spec.plan import Plan


def test_a_researcher_submits_a_plan_and_follows_it(world: World, diabetes_plan: Plan) -> None:
    run_id = world.submit("rita", diabetes_plan)
    view = world.ok("rita", "GET", f"/v1/runs/{run_id}")
    assert view["state"] == "submitted"
    assert (view["dataset"], view["job_name"]) == (DATASET, "diabetes_prevalence")
    assert (view["plan_hash"], view["epsilon"]) == (diabetes_plan.hash, 1.0)
    assert view["submitted_by"] == "rita" and view["decision"] is None
    assert [run["id"] for run in world.ok("rita", "GET", "/v1/runs")] == [run_id]


def test_researchers_see_only_their_own_runs_and_others_look_missing(
    world: World, diabetes_plan: Plan
) -> None:
    mine, theirs = world.submit("rita", diabetes_plan), world.submit("ravi", diabetes_plan)
    assert [run["id"] for run in world.ok("rita", "GET", "/v1/runs")] == [mine]
    assert {run["id"] for run in world.ok("sam", "GET", "/v1/runs")} == {mine, theirs}
    hidden = world.call("rita", "GET", f"/v1/runs/{theirs}")
    missing = world.call("rita", "GET", "/v1/runs/999999")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["code"] == missing.json()["code"] == "not_found"
    assert hidden.json()["message"].replace(str(theirs), "N") == missing.json()["message"].replace(
        "999999", "N"
    )
    for path in (f"/v1/runs/{theirs}/review", f"/v1/runs/{theirs}/cancel"):
        method = "POST" if path.endswith("cancel") else "GET"
        assert world.call("rita", method, path).status_code == 404


def test_a_plan_that_cannot_run_on_the_dataset_is_refused_at_submission(
    world: World, diabetes_plan: Plan
) -> None:
    drifted = diabetes_plan.model_copy(update={"schema_hash": "0" * 64})
    response = world.call(
        "rita", "POST", "/v1/runs", json={"dataset": DATASET, "plan": drifted.model_dump()}
    )
    assert response.status_code == 409 and response.json()["code"] == "schema_drift"
    unknown = world.call(
        "rita", "POST", "/v1/runs", json={"dataset": "nope", "plan": diabetes_plan.model_dump()}
    )
    assert unknown.status_code == 404 and "nope" in unknown.json()["message"]
    assert world.ok("sam", "GET", "/v1/runs") == []


def test_a_malformed_plan_names_the_field(world: World, diabetes_plan: Plan) -> None:
    plan = diabetes_plan.model_dump(mode="json")
    plan["budget"]["epsilon"] = -1
    response = world.call("rita", "POST", "/v1/runs", json={"dataset": DATASET, "plan": plan})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_request" and body["field"] == "plan.budget.epsilon"
    assert "plan.budget.epsilon" in body["message"] and "-1" not in body["message"]


def test_the_author_cancels_before_the_run_starts(world: World, diabetes_plan: Plan) -> None:
    run_id = world.submit("rita", diabetes_plan)
    not_author = world.call("sam", "POST", f"/v1/runs/{run_id}/cancel")
    assert not_author.status_code == 403 and not_author.json()["code"] == "forbidden"
    assert world.ok("rita", "POST", f"/v1/runs/{run_id}/cancel")["state"] == "cancelled"
    again = world.call("rita", "POST", f"/v1/runs/{run_id}/cancel")
    assert again.status_code == 409 and "cancelled" in again.json()["message"]


def test_a_steward_reviews_what_the_run_will_do(world: World, diabetes_plan: Plan) -> None:
    run_id = world.submit("rita", diabetes_plan)
    waiting = world.ok("sam", "GET", "/v1/runs", params={"state": "submitted"})
    assert [run["id"] for run in waiting] == [run_id]
    review = world.ok("sam", "GET", f"/v1/runs/{run_id}/review")
    plan = review["plan"]
    assert plan["sql"] == diabetes_plan.sql
    assert plan["reads"]["patients"] and "clinical_events" in plan["reads"]
    outputs = {output["name"]: output for output in plan["outputs"]}
    assert set(outputs) == {o.output.name for o in diabetes_plan.outputs}
    mean = outputs["diabetes_prevalence_by_region"]
    assert mean["bounds"] == [0, 1] and mean["epsilon"] > 0 and mean["expected_accuracy"]
    assert mean["group_by"][0]["keys"]
    assert review["budget_before"]["remaining_epsilon"] == 3.0
    assert review["budget_after"]["remaining_epsilon"] == 2.0
    assert review["can_decide"] is True


def test_approval_follows_the_four_eyes_rule(world: World, diabetes_plan: Plan) -> None:
    run_id = world.submit("sam", diabetes_plan)
    own = world.call("sam", "POST", f"/v1/runs/{run_id}/approve", json={"reason": "mine"})
    assert own.status_code == 403 and own.json()["code"] == "forbidden"
    assert "four-eyes" in own.json()["message"]
    approved = world.approve("sue", run_id, "Aggregates only.")
    assert approved["state"] == "approved"
    assert approved["decision"]["steward"] == "sue"
    assert approved["decision"]["reason"] == "Aggregates only."
    assert world.ok("sam", "GET", f"/v1/runs/{run_id}")["decision"]["verdict"] == "approved"


def test_a_rejection_needs_a_reason(world: World, diabetes_plan: Plan) -> None:
    run_id = world.submit("rita", diabetes_plan)
    empty = world.call("sam", "POST", f"/v1/runs/{run_id}/reject", json={"reason": ""})
    assert empty.status_code == 422 and empty.json()["field"] == "reason"
    blank = world.call("sam", "POST", f"/v1/runs/{run_id}/reject", json={"reason": "   "})
    assert blank.status_code == 400 and "reason" in blank.json()["message"]
    rejected = world.ok(
        "sam", "POST", f"/v1/runs/{run_id}/reject", json={"reason": "Too fine-grained."}
    )
    assert rejected["state"] == "rejected"
    assert world.ok("rita", "GET", f"/v1/runs/{run_id}")["decision"]["reason"] == (
        "Too fine-grained."
    )


def test_approval_is_refused_when_the_budget_cannot_cover_it(
    world: World, diabetes_plan: Plan
) -> None:
    runs = [world.submit("rita", diabetes_plan) for _ in range(4)]
    for run_id in runs[:3]:
        world.approve("sam", run_id)
    refused = world.call("sam", "POST", f"/v1/runs/{runs[3]}/approve", json={"reason": "ok"})
    assert refused.status_code == 409 and refused.json()["code"] == "budget_exceeded"
    assert world.ok("sam", "GET", f"/v1/runs/{runs[3]}")["state"] == "submitted"
    raised = world.ok("sam", "PUT", f"/v1/datasets/{DATASET}/budget", json={"epsilon": 4})
    assert raised["budget"]["budget_epsilon"] == 4.0
    assert world.approve("sam", runs[3])["state"] == "approved"


def test_budgets_are_listed_and_never_set_below_what_was_spent(
    world: World, diabetes_plan: Plan
) -> None:
    run_id = world.submit("rita", diabetes_plan)
    world.approve("sam", run_id)
    assert world.work() == run_id
    listed = world.ok("pat", "GET", "/v1/datasets")
    assert [d["name"] for d in listed] == [DATASET]
    budget = world.ok("rita", "GET", f"/v1/datasets/{DATASET}")["budget"]
    assert (budget["spent_epsilon"], budget["remaining_epsilon"]) == (1.0, 2.0)
    below = world.call("sam", "PUT", f"/v1/datasets/{DATASET}/budget", json={"epsilon": 0.5})
    assert below.status_code == 409 and "never refunded" in below.json()["message"]
    invalid = world.call("sam", "PUT", f"/v1/datasets/{DATASET}/budget", json={"epsilon": 0})
    assert invalid.status_code == 422 and invalid.json()["field"] == "epsilon"


def test_failure_details_reach_stewards_only(world: World, tmp_path: Path) -> None:
    # The cast fails on the real data and DuckDB's message quotes the offending value.
    sql = "SELECT patient_id, sex FROM patients WHERE CAST(sex AS INTEGER) > 0"
    plan = compile_job(write_job(tmp_path / "job", sql=sql))
    run_id = world.submit("rita", plan)
    world.approve("sam", run_id)
    assert world.work() == run_id
    researcher = world.call("rita", "GET", f"/v1/runs/{run_id}")
    steward = world.ok("sam", "GET", f"/v1/runs/{run_id}")
    failure = researcher.json()["failure"]
    assert researcher.json()["state"] == "failed"
    assert failure["category"] == "invalid_plan" and failure["details"] is None
    for leak in ("male'", "convert string", "Traceback"):
        assert leak not in researcher.text
    assert "Could not convert string" in steward["failure"]["details"]
    listed = world.call("rita", "GET", "/v1/runs")
    assert "male'" not in listed.text and "convert string" not in listed.text


def test_bounds_too_large_for_their_resolution_are_a_validation_error(
    world: World, diabetes_plan: Plan
) -> None:
    plan = diabetes_plan.model_dump(mode="json")
    mean = next(p for p in plan["outputs"] if p["output"]["type"] == "mean")
    mean["output"]["bounds"] = [0, 1e308]
    mean["output"]["resolution"] = 1e-10
    response = world.call("rita", "POST", "/v1/runs", json={"dataset": DATASET, "plan": plan})
    # Found by schemathesis: the bounds on the grid overflowed and became a 500.
    assert response.status_code == 422, response.text
    assert "resolution" in response.json()["message"]
