"""What a transaction wrote, counted only once it is committed.

Writers note their records on the session's `Tally` (`tally_of(session)`): the budget chains
every budget record, the response chains every response, `apply_readings` the readings, the
group-commit batcher its batch, `seed_diversity` the diversity it computed, `ReadingScopes`
the scopes it measured. The tally goes to the process's metrics (a `TallySink`) when the
session commits, and is dropped when the transaction ends any other way (rollback, an error,
close without commit). So a failed request counts nothing, whichever code path opened the
transaction (the request's session dependency, the group-commit batcher), and no writer needs
to know about Prometheus.
"""

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

SINK_KEY = "entropy_budget.tally_sink"
"""`Session.info` key of the sink (set by the session factory; absent: nothing is counted)."""
PENDING_KEY = "entropy_budget.tally"
"""`Session.info` key of the current transaction's tally."""

logger = logging.getLogger("app.telemetry")


@dataclass
class Tally:
    """The domain observations of one transaction."""

    adjustments: Counter[str] = field(default_factory=Counter)
    """Budget records written, by adjustment_type."""
    budgets: dict[str, float] = field(default_factory=dict)
    """The budget of each job after its last record in the transaction."""
    responses: int = 0
    patterns_revisited: int = 0
    readings: int = 0
    diversity: float | None = None
    """The diversity index last computed in the transaction."""
    scope_diversity: dict[tuple[str | None, int | None], float] = field(default_factory=dict)
    """The diversity index of each scope (job_hash, half_life_seconds) that readings without
    entropy measured (their policy's scope)."""
    reading_batches: list[int] = field(default_factory=list)
    """Sizes of the group-commit batches committed by the transaction."""


class TallySink(Protocol):
    def publish(self, tally: Tally) -> None: ...


def tally_of(session: Session) -> Tally | None:
    """The tally of the session's transaction; None when the session counts nothing."""
    if SINK_KEY not in session.info:
        return None
    tally: Tally | None = session.info.get(PENDING_KEY)
    if tally is None:
        tally = session.info[PENDING_KEY] = Tally()
    return tally


def counting_sessions(sessions: "sessionmaker[Session]", sink: TallySink) -> None:
    """Sessions made by `sessions` publish their tally to `sink` on commit, and only then."""
    sessions.configure(info={SINK_KEY: sink})
    event.listen(sessions, "after_commit", _publish)
    event.listen(sessions, "after_transaction_end", _drop)


def _publish(session: Session) -> None:
    tally: Tally | None = session.info.pop(PENDING_KEY, None)
    if tally is None:
        return
    sink: TallySink = session.info[SINK_KEY]
    try:
        sink.publish(tally)
    except Exception:
        # The transaction is committed: a metrics failure must not turn it into an error.
        logger.exception("publishing the committed transaction's metrics failed")


def _drop(session: Session, transaction: SessionTransaction, *_args: Any) -> None:
    if transaction.parent is None:  # the outermost transaction ended without a commit
        session.info.pop(PENDING_KEY, None)
