"""Dummy datasets generated from a schema and its generation hints.

`generate_dataset` writes one DuckDB file; `ensure_dummy_dataset` returns the default small
dataset of a schema, generating it on first use. The hint language is documented in
`trusted_env.schema.hints`.
"""

from trusted_env.dummy.cache import (
    DEFAULT_PATIENTS,
    DEFAULT_SEED,
    default_dummy_dir,
    ensure_dummy_dataset,
    generate_with_manifest,
)
from trusted_env.dummy.generator import GENERATOR_VERSION, Progress, generate_dataset
from trusted_env.dummy.validate import check_hints

__all__ = [
    "DEFAULT_PATIENTS",
    "DEFAULT_SEED",
    "GENERATOR_VERSION",
    "Progress",
    "check_hints",
    "default_dummy_dir",
    "ensure_dummy_dataset",
    "generate_dataset",
    "generate_with_manifest",
]
