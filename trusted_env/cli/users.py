"""`tre user ...`: users, roles and API tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from trusted_env.cli.control_context import console, grid, transaction, when
from trusted_env.control import Actor

if TYPE_CHECKING:
    from trusted_env.control.users import IssuedToken

group = typer.Typer(help="Manage users, their roles and API tokens.", no_args_is_help=True)


def _print_token(issued: IssuedToken) -> None:
    console.print(
        f"API token for [bold]{issued.user.name}[/] ({issued.user.role.value}), "
        "shown only this once; store it now:"
    )
    # Plain print: the token must be copyable, without markup or wrapping.
    print(issued.token)


@group.command("add")
def add(
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[
        str, typer.Option("--role", help="researcher, steward, policy_reader or admin.")
    ],
) -> None:
    """Create a user and print their first API token once."""
    from trusted_env.control import users

    parsed = users.parse_role(role)
    with transaction() as session:
        issued = users.create_user(session, Actor.operator(), name, parsed)
    _print_token(issued)


@group.command("token")
def token(name: Annotated[str, typer.Argument(help="User name.")]) -> None:
    """Issue another API token for a user (printed once)."""
    from trusted_env.control import users

    with transaction() as session:
        issued = users.issue_token(session, Actor.operator(), name)
    _print_token(issued)


@group.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="User name.")],
    token_id: Annotated[int | None, typer.Option("--token-id", help="Only this token.")] = None,
) -> None:
    """Revoke a user's API tokens (all of them unless --token-id is given)."""
    from trusted_env.control import users

    with transaction() as session:
        count = users.revoke_tokens(session, Actor.operator(), name, token_id)
    console.print(f"Revoked {count} token(s) of {name}.")


@group.command("list")
def list_() -> None:
    """Users with their role and number of active tokens."""
    from trusted_env.control import users

    with transaction() as session:
        views = users.list_users(session, Actor.operator())
    table = grid("user", "role", "active tokens", "created")
    for view in views:
        table.add_row(view.name, view.role.value, str(view.active_tokens), when(view.created_at))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="user")
