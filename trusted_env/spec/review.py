"""The review view of a plan: everything a steward must see before approving it.

Built from the plan and the dataset schema only (no data), so a researcher's `tre check` and a
steward's review show the same thing.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from trusted_env.dp.planned import expected_accuracy
from trusted_env.schema import DatasetSchema
from trusted_env.spec.outputs import GroupBy
from trusted_env.spec.plan import Plan, PlannedOutput
from trusted_env.validation.plan_checks import cell_count, public_keys


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GroupReview(_Frozen):
    column: str
    key_source: str
    keys: tuple[str, ...] | None


class OutputReview(_Frozen):
    name: str
    type: str
    description: str
    column: str | None
    where: str | None
    bounds: tuple[float, float] | None
    resolution: float | None
    nulls: str | None
    bins: tuple[float, ...] | None
    quantile: float | None
    group_by: tuple[GroupReview, ...]
    cells: int | None
    epsilon: float
    delta: float
    mechanism: str
    noise_scales: dict[str, float]
    accuracy_95: float | None
    expected_accuracy: str


class PlanReview(_Frozen):
    job_name: str
    job_description: str
    plan_hash: str
    dataset_schema: str
    schema_hash: str
    sql: str
    codelists: dict[str, int]
    reads: dict[str, tuple[str, ...]]
    max_rows_per_patient: int
    epsilon: float
    delta: float
    outputs: tuple[OutputReview, ...]


def _group_review(group: GroupBy, schema: DatasetSchema) -> GroupReview:
    if group.keys is not None:
        source = "listed in the spec"
    elif group.keys_from is not None:
        source = f"public domain of {group.keys_from}"
    else:
        source = "from the data, through OpenDP's noisy threshold (uses delta)"
    return GroupReview(column=group.column, key_source=source, keys=public_keys(group, schema))


def _output_review(planned: PlannedOutput, schema: DatasetSchema) -> OutputReview:
    output = planned.output
    expected = expected_accuracy(planned)
    nulls = getattr(output, "nulls", None)
    if nulls == "impute":
        nulls = f"impute {getattr(output, 'impute_value', None)}"
    return OutputReview(
        name=output.name, type=output.type, description=output.description,
        column=getattr(output, "column", None), where=output.where,
        bounds=getattr(output, "bounds", None), resolution=getattr(output, "resolution", None),
        nulls=nulls, bins=getattr(output, "bins", None),
        quantile=getattr(output, "quantile", None),
        group_by=tuple(_group_review(group, schema) for group in output.group_by),
        cells=cell_count(output.group_by, schema), epsilon=planned.epsilon, delta=planned.delta,
        mechanism=expected.mechanism, noise_scales=expected.noise_scales,
        accuracy_95=expected.half_width, expected_accuracy=expected.text,
    )


def review_plan(plan: Plan, schema: DatasetSchema) -> PlanReview:
    return PlanReview(
        job_name=plan.job_name, job_description=plan.job_description, plan_hash=plan.hash,
        dataset_schema=plan.dataset_schema, schema_hash=plan.schema_hash, sql=plan.sql,
        codelists={name: len(codelist.rows) for name, codelist in plan.codelists.items()},
        reads=plan.reads, max_rows_per_patient=plan.max_rows_per_patient,
        epsilon=plan.budget.epsilon, delta=plan.budget.delta,
        outputs=tuple(_output_review(planned, schema) for planned in plan.outputs),
    )
