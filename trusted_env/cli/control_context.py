"""What the control-plane commands share: the database from settings, the acting user, output.

These commands run on the trusted host itself with direct access to the control-plane database;
the operator at that shell acts as an administrator, or as a named user with `--as NAME`.
SQLAlchemy and the settings are imported when a command runs, not when `tre` builds its commands.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from trusted_env.control import Actor  # light: roles only (the package loads the rest lazily)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

console = Console(highlight=False)


@contextmanager
def transaction() -> Iterator[Session]:
    """One transaction on the configured database (TRE_DATABASE_URL or TRE_DATA_DIR)."""
    from trusted_env.control import Database
    from trusted_env.settings import get_settings

    db = Database.from_settings(get_settings())
    try:
        with db.transaction() as session:
            yield session
    finally:
        db.dispose()


def acting(session: Session, name: str | None) -> Actor:
    """The named user, or the operator (an administrator) when no name is given."""
    from trusted_env.control import users

    return Actor.operator() if name is None else users.actor_for(session, name)


def when(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def number(value: float) -> str:
    return f"{value:.6g}"


def grid(*headers: str) -> Table:
    """A table whose cells wrap instead of being cut short on a narrow terminal."""
    table = Table()
    for header in headers:
        table.add_column(header, overflow="fold")
    return table
