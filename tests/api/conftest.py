"""Fixtures of the API tests (helpers live in api_support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import JOBS, World, build_world

from trusted_env.schema import load_schema
from trusted_env.spec.job_folder import compile_job
from trusted_env.spec.plan import Plan


@pytest.fixture(scope="session")
def api_dataset_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real dummy dataset (DuckDB) standing in for a registered real one."""
    from trusted_env.dummy import generate_dataset

    path = tmp_path_factory.mktemp("api-data") / "primary_care.duckdb"
    return generate_dataset(load_schema("primary_care"), path, patients=400, seed=7)


@pytest.fixture(scope="session")
def diabetes_plan() -> Plan:
    """The canonical plan of jobs/diabetes_prevalence (epsilon 1)."""
    return compile_job(JOBS / "diabetes_prevalence")


@pytest.fixture(scope="session")
def flu_plan() -> Plan:
    return compile_job(JOBS / "flu_vaccine_uptake")


@pytest.fixture
def world(tmp_path: Path, api_dataset_file: Path) -> Iterator[World]:
    built = build_world(tmp_path, api_dataset_file)
    try:
        yield built
    finally:
        built.client.close()
        built.db.dispose()
