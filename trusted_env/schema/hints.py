"""Generation hints for dummy data, carried by the schema next to what they describe.

Hints shape the dummy data only; they are never read when validating or running a job.
(Placeholder: the dummy-data generator defines the full hint language.)
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ColumnHint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TableHint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
