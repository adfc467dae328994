"""User YAML is read with libyaml when available: the same data, and the same clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import JOBS
from trusted_env.errors import SpecError
from trusted_env.schema import SCHEMA_DIR
from trusted_env.schema.model import DatasetSchema
from trusted_env.validation.messages import load_yaml_model, safe_load_yaml

DOCUMENTS = sorted(SCHEMA_DIR.glob("*.yaml")) + sorted(JOBS.glob("*/job.yaml"))


@pytest.mark.parametrize("path", DOCUMENTS, ids=[f"{p.parent.name}/{p.name}" for p in DOCUMENTS])
def test_fast_loader_reads_the_same_data_as_safe_load(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert safe_load_yaml(text) == yaml.safe_load(text)


def test_typed_scalars_resolve_as_with_safe_load() -> None:
    text = "d: 2024-01-01\nf: 1e3\nb: yes\no: 0o17\nn: 1_000\nnull_: ~\n"
    assert safe_load_yaml(text) == yaml.safe_load(text)


def test_a_yaml_error_quotes_the_offending_line(tmp_path: Path) -> None:
    # libyaml's own message gives no excerpt and does not name a tab; the error path re-reads
    # the text with the pure-Python parser so that the user sees where the problem is.
    bad = tmp_path / "schema.yaml"
    bad.write_text("name: x\ntables:\n\t- one\n", encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_yaml_model(bad, DatasetSchema, "The schema")
    message = str(caught.value)
    assert "is not valid YAML" in message
    assert "'\\t'" in message
    assert "\t- one" in message
