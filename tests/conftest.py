"""Shared fixtures: a small real dummy dataset of the primary-care schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from trusted_env.schema import DatasetSchema, load_schema

REPO = Path(__file__).resolve().parents[1]
JOBS = REPO / "jobs"


@pytest.fixture(scope="session")
def primary_care() -> DatasetSchema:
    return load_schema("primary_care")


@pytest.fixture(scope="session")
def dummy_dataset(tmp_path_factory: pytest.TempPathFactory, primary_care: DatasetSchema) -> Path:
    """A 4,000-patient dummy primary-care dataset (a real DuckDB file), shared by the session."""
    from trusted_env.dummy import generate_dataset

    path = tmp_path_factory.mktemp("dummy") / "primary_care.duckdb"
    return generate_dataset(primary_care, path, patients=4_000, seed=11)
