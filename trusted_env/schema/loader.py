"""Load dataset schemas from YAML, by bundled name or by path."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from trusted_env.errors import SpecError
from trusted_env.schema.model import DatasetSchema
from trusted_env.validation.messages import describe_validation_error

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
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SpecError(f"Schema file {path} is not valid YAML: {exc}") from None
    try:
        return DatasetSchema.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(
            f"Schema file {path} is invalid: {describe_validation_error(exc)}",
            hint="Fix the fields named above.",
        ) from None
