"""The canonical plan: what is submitted, reviewed, hashed, approved and executed.

A plan holds the spec's outputs with their share of the budget, the cohort SQL text and the
codelists' content, never a path or a reference to researcher code. Its hash is over canonical
JSON, so the same job gives the same hash on every machine.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from trusted_env.canonical import canonical_json, sha256_hex
from trusted_env.spec.model import Budget
from trusted_env.spec.outputs import Identifier, Output

PLAN_FORMAT_VERSION: Literal[1] = 1


class Codelist(BaseModel):
    """A CSV of codes, exposed to the cohort SQL as a table of strings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    columns: tuple[Identifier, ...] = Field(min_length=1)
    rows: tuple[tuple[str, ...], ...]


class PlannedOutput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    output: Output
    epsilon: float = Field(gt=0, allow_inf_nan=False)
    delta: float = Field(ge=0, allow_inf_nan=False)
    max_rows_per_patient: int = Field(
        ge=1, description="How many cohort rows one patient can contribute to this output."
    )


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format_version: Literal[1] = PLAN_FORMAT_VERSION
    job_name: Identifier
    job_description: str
    dataset_schema: str
    schema_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    sql: str = Field(min_length=1)
    codelists: dict[Identifier, Codelist]
    patient_id_column: Identifier
    max_rows_per_patient: int = Field(ge=1)
    budget: Budget
    outputs: tuple[PlannedOutput, ...] = Field(min_length=1)
    reads: dict[str, tuple[str, ...]] = Field(
        description="Dataset tables and the columns of each that the cohort SQL reads."
    )

    @property
    def hash(self) -> str:
        return sha256_hex(self.model_dump(mode="json"))

    def to_json(self) -> str:
        return canonical_json(self.model_dump(mode="json"))
