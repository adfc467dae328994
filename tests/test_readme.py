"""The README's command references agree with the CLI: every documented command exists and
every documented option appears in that command's --help."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from tests.conftest import REPO
from trusted_env.cli.app import _register_commands, app

README = (REPO / "README.md").read_text(encoding="utf-8")


def _documented_commands() -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """(command words, options) for every `tre ...` usage in a reference table's first cell."""
    found = []
    for line in README.splitlines():
        if not line.startswith("| `tre "):
            continue
        first_cell = line.split(" | ")[0]
        for usage in re.findall(r"`(tre [^`]+)`", first_cell):
            usage = usage.replace("\\|", "|")
            words = []
            for token in usage.split()[1:]:
                if not re.fullmatch(r"[a-z][a-z-]*", token):
                    break
                words.append(token)
            options = tuple(sorted(set(re.findall(r"--[a-z][a-z-]*", usage))))
            found.append((tuple(words), options))
    return found


DOCUMENTED = _documented_commands()


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    _register_commands()
    return CliRunner()


def test_the_readme_documents_the_main_commands() -> None:
    names = {" ".join(words) for words, _ in DOCUMENTED}
    assert {"check", "run", "schema", "dummy generate", "dataset add", "worker", "submit",
            "admin approve", "audit verify", "demo", "serve"} <= names


@pytest.mark.parametrize(("words", "options"), DOCUMENTED,
                         ids=[" ".join(w) for w, _ in DOCUMENTED])
def test_documented_command_and_options_exist(
    runner: CliRunner, words: tuple[str, ...], options: tuple[str, ...]
) -> None:
    result = runner.invoke(app, [*words, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for option in options:
        assert option in result.output, f"tre {' '.join(words)} has no {option}"
