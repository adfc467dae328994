"""Import CSV extracts into DuckDB datasets according to a schema and its import rules."""

from trusted_env.importing.api import (
    default_rejects_path,
    import_extract,
    import_extract_by_name,
    summary_path,
)
from trusted_env.importing.content_hash import dataset_content_hash, dataset_file_content_hash
from trusted_env.importing.errors import ExtractError
from trusted_env.importing.loader import load_import_rules, resolve_rules_path
from trusted_env.importing.rules import ImportRules
from trusted_env.importing.summary import ImportSummary, RuleCount, TableSummary

__all__ = [
    "ExtractError",
    "ImportRules",
    "ImportSummary",
    "RuleCount",
    "TableSummary",
    "dataset_content_hash",
    "dataset_file_content_hash",
    "default_rejects_path",
    "import_extract",
    "import_extract_by_name",
    "load_import_rules",
    "resolve_rules_path",
    "summary_path",
]
