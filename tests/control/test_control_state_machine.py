"""The run state machine: every legal transition is allowed, every other one refused."""

from __future__ import annotations

import itertools

import pytest

from trusted_env.control.runs import TRANSITIONS, RunState, transition
from trusted_env.control.tables import Run
from trusted_env.errors import ConflictError

LEGAL = {
    (RunState.SUBMITTED, RunState.APPROVED),
    (RunState.SUBMITTED, RunState.REJECTED),
    (RunState.SUBMITTED, RunState.CANCELLED),
    (RunState.APPROVED, RunState.RUNNING),
    (RunState.APPROVED, RunState.CANCELLED),
    (RunState.RUNNING, RunState.RELEASED),
    (RunState.RUNNING, RunState.FAILED),
}
ALL_PAIRS = list(itertools.product(RunState, RunState))


def test_the_transition_table_is_the_documented_one() -> None:
    declared = {(source, target) for source, targets in TRANSITIONS.items() for target in targets}
    assert declared == LEGAL
    assert set(TRANSITIONS) == set(RunState)


@pytest.mark.parametrize(("source", "target"), sorted(LEGAL))
def test_legal_transitions_change_the_state(source: RunState, target: RunState) -> None:
    run = Run(id=1, state=source.value)
    transition(run, target)
    assert run.state == target.value


@pytest.mark.parametrize(("source", "target"), [p for p in ALL_PAIRS if p not in LEGAL])
def test_illegal_transitions_are_refused_and_change_nothing(
    source: RunState, target: RunState
) -> None:
    run = Run(id=7, state=source.value)
    with pytest.raises(ConflictError) as caught:
        transition(run, target)
    assert run.state == source.value
    assert f"Run 7 is {source.value}" in str(caught.value)
