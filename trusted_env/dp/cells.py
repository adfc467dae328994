"""Cells of a grouped output: the public keys, in a fixed order, that every release covers."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

from trusted_env.schema import DatasetSchema
from trusted_env.spec.outputs import HistogramOutput, Output
from trusted_env.validation.plan_checks import public_keys

CellKey = tuple[str, ...]
BIN_COLUMN = "bin"


@dataclass(frozen=True)
class CellLayout:
    """Group columns and, when all keys are public, every cell in release order."""

    group_columns: tuple[str, ...]
    key_sets: tuple[tuple[str, ...], ...] | None

    @property
    def public(self) -> bool:
        return self.key_sets is not None

    def cells(self) -> list[CellKey]:
        if self.key_sets is None:
            raise ValueError("cells are only known in advance for public keys")
        return list(itertools.product(*self.key_sets))

    def columns_with_bin(self, output: Output) -> tuple[str, ...]:
        extra = (BIN_COLUMN,) if isinstance(output, HistogramOutput) else ()
        return (*self.group_columns, *extra)


def layout_for(output: Output, schema: DatasetSchema) -> CellLayout:
    key_sets = [public_keys(group, schema) for group in output.group_by]
    if any(keys is None for keys in key_sets):
        return CellLayout(output.group_columns, None)
    return CellLayout(output.group_columns, tuple(k for k in key_sets if k is not None))


def dense(layout: CellLayout, values: Mapping[CellKey, int]) -> list[int]:
    """Exact values for every public cell, zero where the data had no rows."""
    return [int(values.get(cell, 0)) for cell in layout.cells()]
