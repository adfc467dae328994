"""Researcher commands: check, run and schema (filled in by the engine work)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    del app
