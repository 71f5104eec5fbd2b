"""Pure rules of pledges (SPEC §14; 民法典 arts 440, 444). No I/O."""

from __future__ import annotations

from app.kit.errors import InvalidState
from app.models.policy import PledgeStatus

S = PledgeStatus
# pending --confirm (pledgee: joint filing)--> active --release (pledgee)--> released;
# pending --cancel (either party)--> cancelled.
TRANSITIONS: dict[PledgeStatus, frozenset[PledgeStatus]] = {
    S.pending: frozenset({S.active, S.cancelled}),
    S.active: frozenset({S.released}),
    S.released: frozenset(),
    S.cancelled: frozenset(),
}


def check_transition(current: PledgeStatus, target: PledgeStatus) -> None:
    if target not in TRANSITIONS[S(current)]:
        raise InvalidState(f"A pledge cannot go from {current} to {target}.")
