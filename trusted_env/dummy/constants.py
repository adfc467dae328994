"""Facts about the dummy generator that `tre` needs without loading it (polars, numpy).

`tre dummy generate` shows the sizes in its help, which typer builds on every `tre`
invocation, and `tre run` compares the generator version with a cached dataset's manifest
before deciding whether the generator has to run at all.
"""

DEFAULT_PATIENTS = 10_000
DEFAULT_SEED = 20250401
MAX_PATIENTS = 100_000_000

# Bump whenever the same schema, size and seed would give different data.
GENERATOR_VERSION = "2"
