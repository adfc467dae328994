"""Validate a plan against a dataset schema: the same checks on a laptop and in the runner."""

from __future__ import annotations

import math
from dataclasses import dataclass

from trusted_env.errors import SchemaDriftError, SpecError
from trusted_env.schema import DatasetSchema
from trusted_env.spec.outputs import MAX_CELLS_PER_OUTPUT, GroupBy, Output
from trusted_env.spec.plan import Plan
from trusted_env.validation.sql_sandbox import analyse_cohort_sql


def public_keys(group: GroupBy, schema: DatasetSchema) -> tuple[str, ...] | None:
    """The declared keys of a grouping column; None when they must come from the data."""
    if group.keys is not None:
        return group.keys
    if group.keys_from is not None:
        domain = schema.domain_of(group.keys_from)
        if domain is None:
            raise SpecError(
                f"group_by '{group.column}' takes keys_from '{group.keys_from}', which is not a "
                f"column with a public domain in schema '{schema.name}'.",
                hint="Run `tre schema` to see the columns with domains, or list keys explicitly.",
            )
        return domain
    return None


def check_plan(plan: Plan, schema: DatasetSchema, *, fill_reads: bool = False) -> Plan:
    """Refuse a plan that cannot run on this schema; return it (with `reads` filled if asked)."""
    if plan.dataset_schema != schema.name or plan.schema_hash != schema.hash:
        raise SchemaDriftError(
            f"The plan was compiled for schema '{plan.dataset_schema}' ({plan.schema_hash[:12]}), "
            f"not '{schema.name}' ({schema.hash[:12]}).",
            hint="Recompile the job against the current schema (`tre check`).",
        )
    analysis = analyse_cohort_sql(plan.sql, schema, plan.codelists)
    if not fill_reads and plan.reads != analysis.reads:
        raise SpecError("The plan's declared reads do not match its SQL; recompile the job.")
    columns = set(analysis.output_columns)
    if plan.patient_id_column not in columns:
        raise SpecError(
            f"The cohort SQL must return a '{plan.patient_id_column}' column "
            "(one row per patient).",
            hint="Add it to the outer SELECT.",
        )
    for planned in plan.outputs:
        if planned.max_rows_per_patient != plan.max_rows_per_patient:
            raise SpecError("Every output must use the plan's max_rows_per_patient.")
        _check_output_columns(planned.output, columns)
        cell_count(planned.output.group_by, schema)
    if math.fsum(p.epsilon for p in plan.outputs) > plan.budget.epsilon:
        raise SpecError("The outputs' epsilons add up to more than the job's budget.")
    if math.fsum(p.delta for p in plan.outputs) > plan.budget.delta:
        raise SpecError("The outputs' deltas add up to more than the job's budget.")
    return plan.model_copy(update={"reads": analysis.reads}) if fill_reads else plan


@dataclass(frozen=True)
class CheckedPlan:
    """A plan that `check_plan_for_run` accepted for this schema: what the engine executes.

    The runner checks a plan before it charges the ledger (an invalid plan fails uncharged) and
    hands the engine this value, so one run validates its SQL once, not twice.
    """

    plan: Plan
    schema: DatasetSchema


def check_plan_for_run(plan: Plan, schema: DatasetSchema) -> CheckedPlan:
    """`check_plan`, with the verdict kept as a value the engine accepts."""
    return CheckedPlan(check_plan(plan, schema), schema)


def _check_output_columns(output: Output, columns: set[str]) -> None:
    missing = [column for column in output.columns_used() if column not in columns]
    if missing:
        raise SpecError(
            f"Output '{output.name}' uses {', '.join(missing)}, which the cohort SQL does not "
            f"return (it returns {', '.join(sorted(columns))}).",
            hint="Add the column to the cohort's SELECT or fix the name in job.yaml.",
        )


def cell_count(group_by: tuple[GroupBy, ...], schema: DatasetSchema) -> int | None:
    total = 1
    for group in group_by:
        keys = public_keys(group, schema)
        if keys is None:
            return None
        total *= len(keys)
    if total > MAX_CELLS_PER_OUTPUT:
        raise SpecError(f"Grouping gives {total} cells; at most {MAX_CELLS_PER_OUTPUT} allowed.")
    return total
