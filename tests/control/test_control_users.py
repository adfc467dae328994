"""Users, roles and API tokens: shown once, stored hashed, revocable."""

from __future__ import annotations

import hashlib

import pytest
from control_fixtures import OPERATOR, People, snapshot
from sqlalchemy import select, text

from trusted_env.control import Database, Role, users
from trusted_env.control.tables import ApiToken
from trusted_env.errors import AuthenticationError, ConflictError, PermissionDenied, UserError


def test_a_new_user_gets_a_token_that_authenticates(db: Database) -> None:
    with db.transaction() as session:
        issued = users.create_user(session, OPERATOR, "alice", Role.RESEARCHER)
    assert issued.token.startswith("tre_") and len(issued.token) > 40
    with db.transaction() as session:
        actor = users.authenticate(session, issued.token)
    assert (actor.name, actor.role, actor.user_id) == ("alice", Role.RESEARCHER, issued.user.id)


def test_only_the_tokens_sha256_is_stored(db: Database, people: People) -> None:
    token = people.tokens["alice"].token
    with db.transaction() as session:
        stored = session.execute(select(ApiToken.token_hash)).scalars().all()
    dump = repr(snapshot(db))
    assert hashlib.sha256(token.encode()).hexdigest() in stored
    assert token not in dump
    assert token[8:] not in dump


def test_revoked_tokens_no_longer_authenticate(db: Database, people: People) -> None:
    first = people.tokens["bob"].token
    with db.transaction() as session:
        second = users.issue_token(session, OPERATOR, "bob").token
    with db.transaction() as session:
        assert users.revoke_tokens(session, OPERATOR, "bob") == 2
    for token in (first, second):
        with pytest.raises(AuthenticationError), db.transaction() as session:
            users.authenticate(session, token)


def test_revoking_one_token_keeps_the_others(db: Database, people: People) -> None:
    with db.transaction() as session:
        extra = users.issue_token(session, OPERATOR, "bob")
    with db.transaction() as session:
        users.revoke_tokens(session, OPERATOR, "bob", extra.token_id)
    with db.transaction() as session:
        assert users.authenticate(session, people.tokens["bob"].token).name == "bob"
        with pytest.raises(AuthenticationError):
            users.authenticate(session, extra.token)


def test_unknown_tokens_are_refused(db: Database, people: People) -> None:
    with pytest.raises(AuthenticationError), db.transaction() as session:
        users.authenticate(session, people.tokens["alice"].token + "x")


@pytest.mark.parametrize("who", ["alice", "sam", "pat"])
def test_only_admins_manage_users(db: Database, people: People, who: str) -> None:
    before = snapshot(db)
    with pytest.raises(PermissionDenied), db.transaction() as session:
        users.create_user(session, people.actors[who], "mallory", Role.ADMIN)
    assert snapshot(db) == before
    with db.transaction() as session:
        users.create_user(session, people.ada, "mallory", Role.RESEARCHER)


def test_duplicate_and_invalid_names_change_nothing(db: Database, people: People) -> None:
    before = snapshot(db)
    with pytest.raises(ConflictError), db.transaction() as session:
        users.create_user(session, OPERATOR, "alice", Role.STEWARD)
    with pytest.raises(UserError), db.transaction() as session:
        users.create_user(session, OPERATOR, "Robert'); DROP TABLE users;--", Role.STEWARD)
    assert snapshot(db) == before


def test_roles_are_parsed_leniently_and_checked() -> None:
    assert users.parse_role("Policy-Reader") is Role.POLICY_READER
    with pytest.raises(UserError, match="researcher, steward, policy_reader, admin"):
        users.parse_role("root")


def test_the_check_constraint_refuses_unknown_roles(db: Database) -> None:
    with pytest.raises(Exception, match=r"(?i)check"), db.transaction() as session:
        session.execute(
            text(
                "INSERT INTO users (name, role, created_at, created_by) "
                "VALUES ('x', 'root', CURRENT_TIMESTAMP, 'test')"
            )
        )
