"""trusted-env: privacy-preserving analytics on health records.

Data flows job spec -> validation -> engine (DuckDB + OpenDP) -> release. The control plane
(runs, approvals, ledger, audit) sits beside it and is driven by the API and the CLI.
"""

__version__ = "0.1.0"
