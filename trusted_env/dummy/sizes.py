"""Default and largest sizes of a dummy dataset.

Apart from the generator (polars, numpy) because `tre dummy generate` shows them in its help,
which typer builds on every `tre` invocation.
"""

DEFAULT_PATIENTS = 10_000
DEFAULT_SEED = 20250401
MAX_PATIENTS = 100_000_000
