"""The audit log is append-only and hash-chained: verify() names edited and deleted events."""

from __future__ import annotations

import pytest
from control_fixtures import OPERATOR, People
from sqlalchemy import text

from trusted_env.control import Database, audit
from trusted_env.control.tables import AuditEvent
from trusted_env.errors import PermissionDenied

SQLITE_TRIGGERS = ("audit_events_no_update", "audit_events_no_delete")


def _drop_triggers(db: Database) -> None:
    """What an attacker with DDL rights would do before tampering."""
    with db.transaction() as session:
        if db.backend == "sqlite":
            for trigger in SQLITE_TRIGGERS:
                session.execute(text(f"DROP TRIGGER {trigger}"))
        else:
            session.execute(text("DROP TRIGGER audit_events_no_change ON audit_events"))


def _verify(db: Database) -> audit.AuditReport:
    with db.transaction() as session:
        return audit.verify(session, OPERATOR)


def test_an_untouched_log_verifies(db: Database, people: People) -> None:
    report = _verify(db)
    assert report.ok and report.problems == ()
    # Six users, each with a token.
    assert report.events == report.head_seq == 12


def test_events_record_who_did_what(db: Database, people: People) -> None:
    with db.transaction() as session:
        events = audit.list_events(session, OPERATOR, action="user.created")
    assert len(events) == 6
    assert {e.actor for e in events} == {OPERATOR.name}
    assert {e.details["user"] for e in events} == {"alice", "bob", "sam", "sue", "pat", "ada"}


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"]
)
def test_the_database_refuses_to_change_events(
    db: Database, people: People, statement: str
) -> None:
    with pytest.raises(Exception, match="append-only"), db.transaction() as session:
        session.execute(text(statement))
    assert _verify(db).ok


def test_an_edited_event_is_named(db: Database, people: People) -> None:
    _drop_triggers(db)
    with db.transaction() as session:
        session.execute(text('UPDATE audit_events SET details = \'{"user":"eve"}\' WHERE seq = 5'))
    report = _verify(db)
    assert not report.ok
    assert [(p.seq, "edited" in p.problem) for p in report.problems] == [(5, True)]


def test_an_edit_that_recomputes_the_hash_breaks_the_chain(db: Database, people: People) -> None:
    _drop_triggers(db)
    with db.transaction() as session:
        event = session.get_one(AuditEvent, 4)
        forged = audit.event_hash(
            seq=4,
            at=event.at,
            actor="eve",
            action=event.action,
            run_id=event.run_id,
            dataset=event.dataset,
            details=event.details,
            prev_hash=event.prev_hash,
        )
        session.expunge(event)
        session.execute(
            text("UPDATE audit_events SET actor = 'eve', hash = :h WHERE seq = 4"), {"h": forged}
        )
    report = _verify(db)
    assert not report.ok
    assert [p.seq for p in report.problems] == [5]
    assert "chain" in report.problems[0].problem


def test_a_deleted_event_is_named(db: Database, people: People) -> None:
    _drop_triggers(db)
    with db.transaction() as session:
        session.execute(text("DELETE FROM audit_events WHERE seq = 7"))
    report = _verify(db)
    assert not report.ok
    assert report.problems[0].seq == 8
    assert "7 deleted" in report.problems[0].problem


def test_deleting_the_last_events_is_detected(db: Database, people: People) -> None:
    _drop_triggers(db)
    with db.transaction() as session:
        session.execute(text("DELETE FROM audit_events WHERE seq > 10"))
    report = _verify(db)
    assert not report.ok
    assert "ends at event 10" in report.problems[-1].problem


def test_a_cut_tail_with_a_forged_head_is_caught_by_the_expected_head(
    db: Database, people: People
) -> None:
    recorded = _verify(db).head_hash
    _drop_triggers(db)
    with db.transaction() as session:
        session.execute(text("DELETE FROM audit_events WHERE seq = 12"))
        previous = session.execute(
            text("SELECT hash FROM audit_events WHERE seq = 11")
        ).scalar_one()
        session.execute(text("UPDATE audit_head SET seq = 11, hash = :h"), {"h": previous})
    assert _verify(db).ok  # the chain alone cannot see it...
    with db.transaction() as session:
        report = audit.verify(session, OPERATOR, expected_head=recorded)
    assert not report.ok  # ...an externally recorded head hash can


@pytest.mark.parametrize("who", ["alice", "pat"])
def test_researchers_and_policy_readers_cannot_read_the_log(
    db: Database, people: People, who: str
) -> None:
    with pytest.raises(PermissionDenied), db.transaction() as session:
        audit.verify(session, people.actors[who])
