"""`tre` starts without the heavy libraries: each command imports what it needs when it runs.

Each check runs in a fresh interpreter, because this test process has long since imported
everything. What is asserted is the set of modules loaded, never a duration.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import JOBS, REPO

HEAVY = (
    "sqlalchemy",
    "alembic",
    "fastapi",
    "uvicorn",
    "httpx",
    "duckdb",
    "polars",
    "numpy",
    "opendp",
    "sqlglot",
    "pyarrow",
)

REGISTER = "from trusted_env.cli.app import _register_commands; _register_commands()"

# Building the click command tree is what `tre --help` (and every other invocation) does first:
# typer then evaluates every option's annotation, so enum option types get imported too.
BUILD = f"""{REGISTER}
import typer.main
from trusted_env.cli.app import app
typer.main.get_command(app)
"""

CHECK = f"""
import sys
from pathlib import Path
sys.argv = ["tre", "check", {str(JOBS / "hba1c_control")!r}]
from trusted_env.cli.app import main
try:
    main()
except SystemExit as exc:
    if exc.code:
        raise
"""


def loaded_after(code: str) -> set[str]:
    """The top-level packages among HEAVY that `code` leaves in sys.modules."""
    report = "import json, sys\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    result = subprocess.run(
        [sys.executable, "-"],  # the script comes on stdin, as with `python -c SCRIPT`
        input=f"{code}\n{report}\n",
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1])) & set(HEAVY)


def test_registering_the_commands_imports_no_heavy_library() -> None:
    assert loaded_after(REGISTER) == set()


def test_building_the_commands_for_help_imports_no_heavy_library() -> None:
    assert loaded_after(BUILD) == set()


def test_the_probe_sees_a_heavy_import() -> None:
    # Guards the two tests above against passing vacuously (e.g. a broken report).
    assert loaded_after(f"{REGISTER}\nimport sqlglot") == {"sqlglot"}


def test_check_loads_only_what_validation_and_accuracy_need() -> None:
    # The SQL sandbox needs sqlglot and DuckDB's parser; expected accuracy comes from OpenDP
    # (which imports numpy). Nothing of the control plane, the API or the data frames.
    assert loaded_after(CHECK) <= {"duckdb", "sqlglot", "opendp", "numpy"}


def test_finding_an_up_to_date_dummy_dataset_does_not_load_the_generator(tmp_path: Path) -> None:
    # `tre run` on a cached dummy dataset only compares its manifest: the generator (polars,
    # numpy) loads when the file has to be (re)generated, which the first call here does.
    find = (
        "from pathlib import Path\n"
        "from trusted_env.dummy import ensure_dummy_dataset\n"
        "from trusted_env.schema import load_schema\n"
        f"ensure_dummy_dataset(load_schema('primary_care'), Path({str(tmp_path)!r}), 200)\n"
    )
    assert {"polars", "numpy"} <= loaded_after(find)
    assert loaded_after(find) & {"polars", "numpy"} == set()
