"""The schema model: tables, their patient-id column, typed columns and public domains.

The schema is the single source of truth for the dummy-data generator, the SQL validator, the
runner's drift check, public group keys and `tre schema`. Generation hints live beside each
column and table (see `trusted_env.schema.hints`) and never influence privacy decisions.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trusted_env.canonical import sha256_hex
from trusted_env.schema.hints import ColumnHint, TableHint


class ColumnType(StrEnum):
    """Logical column types; each maps to exactly one DuckDB type."""

    INTEGER = "integer"
    FLOAT = "float"
    STRING = "string"
    DATE = "date"
    BOOLEAN = "boolean"

    @property
    def duckdb_type(self) -> str:
        return _DUCKDB_TYPES[self]


_DUCKDB_TYPES = {
    ColumnType.INTEGER: "BIGINT",
    ColumnType.FLOAT: "DOUBLE",
    ColumnType.STRING: "VARCHAR",
    ColumnType.DATE: "DATE",
    ColumnType.BOOLEAN: "BOOLEAN",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Column(_Strict):
    type: ColumnType
    description: str
    nullable: bool = False
    domain: tuple[str, ...] | None = Field(
        default=None,
        description="Public categories of a string column. Only these values are valid keys.",
    )
    generate: ColumnHint | None = None

    @model_validator(mode="after")
    def _domain_only_for_strings(self) -> Column:
        if self.domain is not None:
            if self.type is not ColumnType.STRING:
                raise ValueError("a domain can only be declared on a string column")
            if len(set(self.domain)) != len(self.domain) or not self.domain:
                raise ValueError("a domain must list distinct values, at least one")
        return self


class Table(_Strict):
    description: str
    patient_id: str = Field(description="The column identifying the patient (privacy unit).")
    columns: dict[str, Column]
    generate: TableHint | None = None

    @model_validator(mode="after")
    def _patient_id_is_a_column(self) -> Table:
        if self.patient_id not in self.columns:
            raise ValueError(f"patient_id column '{self.patient_id}' is not among the columns")
        return self


class DatasetSchema(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    version: int = Field(ge=1)
    description: str
    tables: dict[str, Table]

    def table(self, name: str) -> Table:
        return self.tables[name]

    def column(self, table: str, column: str) -> Column:
        return self.tables[table].columns[column]

    def domain_of(self, reference: str) -> tuple[str, ...] | None:
        """Public domain of `table.column`, or None if it has none or does not exist."""
        table, _, column = reference.partition(".")
        found = self.tables.get(table)
        if found is None or column not in found.columns:
            return None
        return found.columns[column].domain

    def structure(self) -> dict[str, Any]:
        """What a dataset must match: names, types, nullability and domains, no prose."""
        return {
            "name": self.name,
            "version": self.version,
            "tables": {
                table_name: {
                    "patient_id": table.patient_id,
                    "columns": {
                        col_name: {
                            "type": col.type.value,
                            "nullable": col.nullable,
                            "domain": list(col.domain) if col.domain is not None else None,
                        }
                        for col_name, col in table.columns.items()
                    },
                }
                for table_name, table in self.tables.items()
            },
        }

    @property
    def hash(self) -> str:
        return sha256_hex(self.structure())
