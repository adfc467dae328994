"""The job spec: the YAML file a researcher writes in `jobs/<job>/job.yaml`."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trusted_env.spec.outputs import Identifier, Output

MAX_DELTA = 1e-5
MAX_ROWS_PER_PATIENT = 1_000


class Budget(BaseModel):
    """The privacy budget one run of the job spends, split across its outputs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epsilon: float = Field(gt=0, le=10, allow_inf_nan=False)
    delta: float = Field(default=0.0, ge=0, le=MAX_DELTA, allow_inf_nan=False)
    split: Literal["even", "weights"] = Field(
        default="even", description="even: same epsilon per output; weights: by output.weight"
    )


class JobSpec(BaseModel):
    """A declarative analysis job. Nothing in it is executed as code."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="trusted-env job spec")

    name: Identifier
    description: str = Field(min_length=1)
    dataset: str = Field(description="Name of the dataset schema the job targets.")
    cohort: str = Field(default="cohort.sql", description="SQL file, relative to the job folder.")
    codelists: dict[Identifier, str] = Field(
        default_factory=dict,
        description="Table name -> CSV file (relative to the job folder) exposed to the SQL.",
    )
    patient_id_column: Identifier = "patient_id"
    max_rows_per_patient: int = Field(
        default=1,
        ge=1,
        le=MAX_ROWS_PER_PATIENT,
        description="1: the cohort must have one row per patient (checked). Above 1: rows "
        "beyond this many per patient are dropped before aggregation, and every output's noise "
        "grows with the bound.",
    )
    budget: Budget
    outputs: tuple[Output, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> JobSpec:
        names = [output.name for output in self.outputs]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"output names must be unique; repeated: {', '.join(duplicates)}")
        thresholded = [o.name for o in self.outputs if o.uses_data_keys]
        if thresholded and self.budget.delta == 0:
            raise ValueError(
                f"outputs {', '.join(thresholded)} take group keys from the data, which pure DP "
                "cannot do: list the keys (keys or keys_from), or set budget.delta (e.g. 1e-7)"
            )
        not_counts = [o.name for o in self.outputs if o.uses_data_keys and o.type != "count"]
        if not_counts:
            raise ValueError(
                f"outputs {', '.join(not_counts)} take keys from the data, which only count "
                "outputs support: list the keys, or release the keys first with a count"
            )
        if self.budget.delta > 0 and not thresholded:
            raise ValueError(
                "budget.delta is set but no output takes keys from the data; remove delta"
            )
        return self

    def allocate(self) -> list[tuple[float, float]]:
        """(epsilon, delta) per output; their sums never exceed the budget."""
        weights = [
            output.weight if self.budget.split == "weights" else 1.0 for output in self.outputs
        ]
        total_weight = math.fsum(weights)
        epsilons = [self.budget.epsilon * weight / total_weight for weight in weights]
        while math.fsum(epsilons) > self.budget.epsilon:
            epsilons = [math.nextafter(eps, 0.0) for eps in epsilons]
        needs_delta = [output.uses_data_keys for output in self.outputs]
        delta_each = self.budget.delta / max(sum(needs_delta), 1)
        return [
            (eps, delta_each if needs else 0.0)
            for eps, needs in zip(epsilons, needs_delta, strict=True)
        ]
