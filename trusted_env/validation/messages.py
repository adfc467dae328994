"""Parse input into pydantic models, turning validation errors into one readable message.

Every file or document a user writes (schemas, job specs, plans, import rules) goes through
here, so they all fail the same way: a `SpecError` naming each bad field.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from trusted_env.errors import SpecError

Model = TypeVar("Model", bound=BaseModel)


def describe_validation_error(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"]) or "(top level)"
        problems.append(f"{location}: {error['msg']}")
    return "; ".join(problems)


def parse_model(model: type[Model], raw: object, what: str, hint: str | None = None) -> Model:
    """Validate `raw` (parsed YAML or JSON text) as `model`; `what` names it in the error."""
    try:
        if isinstance(raw, str | bytes):
            return model.model_validate_json(raw)
        return model.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(f"{what} is invalid: {describe_validation_error(exc)}",
                        hint=hint) from None


def safe_load_yaml(text: str) -> object:
    """`yaml.safe_load`, with libyaml's parser when PyYAML has it (about ten times faster).

    Both loaders build values with the same safe constructor and resolver, so they return the
    same data. On an error the pure-Python parser reads the text again, because its message
    quotes the offending line and names the bad character.
    """
    # Imported here: the runner reads plans and schemas as JSON and never needs PyYAML.
    import yaml

    if yaml.__with_libyaml__:
        try:
            return yaml.load(text, Loader=yaml.CSafeLoader)
        except yaml.YAMLError:
            pass
    return yaml.safe_load(text)


def read_yaml_file(path: Path, what: str) -> object:
    """Parse a YAML file; a syntax error is a `SpecError` naming the file."""
    import yaml

    try:
        return safe_load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SpecError(f"{what} is not valid YAML: {exc}") from None


def load_yaml_model(path: Path, model: type[Model], what: str, hint: str | None = None) -> Model:
    """Read a YAML file and validate it as `model`."""
    return parse_model(model, read_yaml_file(path, what), what, hint)
