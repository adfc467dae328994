"""Cohort SQL sandbox (interface; implementation in progress)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from trusted_env.schema import DatasetSchema
from trusted_env.spec.plan import Codelist


@dataclass(frozen=True)
class SqlAnalysis:
    reads: dict[str, tuple[str, ...]]
    output_columns: tuple[str, ...]


def analyse_cohort_sql(
    sql: str, schema: DatasetSchema, codelists: Mapping[str, Codelist]
) -> SqlAnalysis:
    raise NotImplementedError
