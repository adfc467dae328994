"""What a run releases: DP estimates with 95% confidence intervals and data-free metadata."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReleasedRow(_Frozen):
    keys: dict[str, str | None] = Field(description="Group key of the cell (empty if ungrouped).")
    estimate: float | None = Field(description="DP estimate; None if the cell has no estimate.")
    ci_low: float | None = Field(description="Lower end of the 95% confidence interval.")
    ci_high: float | None = Field(description="Upper end of the 95% confidence interval.")


class OutputRelease(_Frozen):
    name: str
    type: str
    description: str
    column: str | None
    group_columns: tuple[str, ...]
    epsilon: float
    delta: float
    mechanism: str = Field(description="OpenDP mechanism(s) that added the noise.")
    noise_scales: dict[str, float] = Field(
        description="Noise scale per released component (e.g. sum, count), in value units."
    )
    accuracy: str = Field(description="What the 95% interval means for this output.")
    rows: tuple[ReleasedRow, ...]


class Release(_Frozen):
    job_name: str
    job_description: str
    plan_hash: str
    dataset_schema: str
    schema_hash: str
    max_rows_per_patient: int = Field(
        default=1, ge=1, description="Rows one patient could contribute (1: one row each)."
    )
    epsilon_spent: float
    delta_spent: float
    created_at: datetime
    outputs: tuple[OutputRelease, ...]

    def output(self, name: str) -> OutputRelease:
        for output in self.outputs:
            if output.name == name:
                return output
        raise KeyError(name)
