"""The default small dummy dataset of a schema, generated on first use and kept up to date.

Next to `<schema>.duckdb` a sidecar `<schema>.duckdb.json` records what the file was generated from
(schema structure and hints, size, seed, generator version). The file is regenerated whenever
any of these differs, so `git pull` of a changed schema or generator never leaves stale data.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trusted_env.canonical import sha256_hex
from trusted_env.dummy.constants import DEFAULT_PATIENTS as DEFAULT_PATIENTS
from trusted_env.dummy.constants import DEFAULT_SEED as DEFAULT_SEED
from trusted_env.dummy.constants import GENERATOR_VERSION
from trusted_env.schema.model import DatasetSchema

if TYPE_CHECKING:
    from trusted_env.dummy.generator import Progress

DUMMY_DIR_ENV = "TRE_DUMMY_DATA_DIR"


def default_dummy_dir() -> Path:
    """Where dummy datasets live: `$TRE_DUMMY_DATA_DIR`, else `dummy_data/` of the project.

    The project is the nearest directory, from the working directory upwards, that already has
    a `dummy_data/` folder or a `pyproject.toml`; failing both, `./dummy_data`. This finds the
    checkout's folder even when trusted-env is installed in a virtual environment elsewhere.
    """
    configured = os.environ.get(DUMMY_DIR_ENV)
    if configured:
        return Path(configured)
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "dummy_data").is_dir() or (folder / "pyproject.toml").is_file():
            return folder / "dummy_data"
    return here / "dummy_data"


def dataset_manifest(schema: DatasetSchema, patients: int, seed: int) -> dict[str, Any]:
    """What a generated file depends on; equal manifests mean identical files."""
    return {
        "schema": schema.name,
        "schema_hash": schema.hash,
        "hints_hash": sha256_hex(schema.model_dump(mode="json")),
        "patients": patients,
        "seed": seed,
        "generator_version": GENERATOR_VERSION,
    }


def manifest_path(dataset: Path) -> Path:
    """`x.duckdb.json` beside `x.duckdb` (a suffix of its own, so no user file is replaced)."""
    return dataset.with_name(dataset.name + ".json")


def read_manifest(dataset: Path) -> dict[str, Any] | None:
    try:
        found = json.loads(manifest_path(dataset).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def generate_with_manifest(
    schema: DatasetSchema,
    out_path: Path,
    patients: int,
    seed: int,
    progress: Progress | None = None,
) -> Path:
    """Generate `out_path` and record its manifest beside it.

    The old manifest is removed first and the new one written last (atomically), so a crash at
    any point leaves either no manifest or one that truly describes the file beside it.
    """
    # Imported here: finding an up-to-date dataset must not load polars and numpy.
    from trusted_env.dummy.generator import generate_dataset

    manifest_path(out_path).unlink(missing_ok=True)
    generate_dataset(schema, out_path, patients, seed, progress)
    _write_atomically(
        manifest_path(out_path), json.dumps(dataset_manifest(schema, patients, seed), indent=2)
    )
    return out_path


def ensure_dummy_dataset(
    schema: DatasetSchema,
    directory: Path | None = None,
    patients: int = DEFAULT_PATIENTS,
    seed: int = DEFAULT_SEED,
    progress: Progress | None = None,
) -> Path:
    """Path of `<directory>/<schema>.duckdb`, generating it if missing or out of date.

    `directory` defaults to `default_dummy_dir()`.
    """
    folder = directory if directory is not None else default_dummy_dir()
    dataset = folder / f"{schema.name}.duckdb"
    if dataset.is_file() and read_manifest(dataset) == dataset_manifest(schema, patients, seed):
        return dataset
    return generate_with_manifest(schema, dataset, patients, seed, progress)


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        temporary.write_text(text + "\n", encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
