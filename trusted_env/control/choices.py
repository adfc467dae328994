"""Enumerations the `tre` command line uses as option types.

Typer reads each option's annotation when it builds the commands, on every `tre` invocation,
so these live apart from the services (SQLAlchemy, polars) that `runs` and `releases` import;
those modules re-export them.
"""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    RUNNING = "running"
    RELEASED = "released"
    FAILED = "failed"


class ExportFormat(StrEnum):
    CSV = "csv"
    JSON = "json"
    PARQUET = "parquet"
