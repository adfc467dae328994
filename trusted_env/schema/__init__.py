"""Dataset schemas: the single description of what a dataset (real or dummy) contains."""

from trusted_env.schema.loader import SCHEMA_DIR, available_schemas, load_schema
from trusted_env.schema.model import Column, ColumnType, DatasetSchema, Table

__all__ = [
    "SCHEMA_DIR",
    "Column",
    "ColumnType",
    "DatasetSchema",
    "Table",
    "available_schemas",
    "load_schema",
]
