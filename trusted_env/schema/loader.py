"""Load dataset schemas from YAML, by bundled name or by path."""

from __future__ import annotations

from pathlib import Path

from trusted_env.errors import SpecError
from trusted_env.schema.model import DatasetSchema
from trusted_env.validation.messages import load_yaml_model

SCHEMA_DIR = Path(__file__).parent / "definitions"


def available_schemas() -> list[str]:
    return sorted(path.stem for path in SCHEMA_DIR.glob("*.yaml"))


def resolve_schema_path(name_or_path: str | Path) -> Path:
    candidate = Path(name_or_path)
    if candidate.suffix in {".yaml", ".yml"} and candidate.exists():
        return candidate
    bundled = SCHEMA_DIR / f"{name_or_path}.yaml"
    if bundled.exists():
        return bundled
    raise SpecError(
        f"Unknown dataset schema '{name_or_path}'.",
        hint=f"Use one of {', '.join(available_schemas())} or the path of a schema YAML file.",
    )


def load_schema(name_or_path: str | Path) -> DatasetSchema:
    path = resolve_schema_path(name_or_path)
    return load_yaml_model(path, DatasetSchema, f"Schema file {path}", "Fix the fields named.")
