"""Dummy datasets generated from a schema and its generation hints.

`generate_dataset` writes one DuckDB file; `ensure_dummy_dataset` returns the default small
dataset of a schema, generating it on first use. The hint language is documented in
`trusted_env.schema.hints`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from trusted_env.dummy.constants import DEFAULT_PATIENTS, DEFAULT_SEED, GENERATOR_VERSION

if TYPE_CHECKING:
    from trusted_env.dummy.cache import (
        default_dummy_dir,
        ensure_dummy_dataset,
        generate_with_manifest,
    )
    from trusted_env.dummy.generator import Progress, generate_dataset
    from trusted_env.dummy.validate import check_hints

# Loaded on first use: the generator needs polars and numpy, which `tre` should not import
# to build its commands or to find an up-to-date dataset (trusted_env.dummy.constants).
_HOMES = {
    "default_dummy_dir": "trusted_env.dummy.cache",
    "ensure_dummy_dataset": "trusted_env.dummy.cache",
    "generate_with_manifest": "trusted_env.dummy.cache",
    "Progress": "trusted_env.dummy.generator",
    "generate_dataset": "trusted_env.dummy.generator",
    "check_hints": "trusted_env.dummy.validate",
}

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


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value  # later look-ups find it without calling this function again
    return value
