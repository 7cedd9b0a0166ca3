"""Pattern lifecycle and application recording, each in the request's transaction."""

import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.clock import Clock
from app.core.pagination import PageRequest
from app.core.problems import ConflictProblem, field_error, validation_problem
from app.diversity import service as diversity
from app.models import Pattern, PatternApplication
from app.patterns.repository import ApplicationRepository, PatternRepository
from app.patterns.schemas import (
    ApplicationBatchCreate,
    ApplicationCreate,
    ApplicationFields,
    ApplicationOutcome,
    PatternCreate,
    PatternStatusUpdate,
)
from app.webhooks import outbox
from app.webhooks.schemas import StatusChange


def create_pattern(session: Session, clock: Clock, body: PatternCreate) -> Pattern:
    repository = PatternRepository(session)
    pattern_id = body.id or uuid.uuid4().hex
    if repository.get(pattern_id) is not None:
        raise ConflictProblem(f"Pattern {pattern_id!r} already exists.")
    now = clock()
    pattern = Pattern(
        id=pattern_id,
        pattern_type=body.pattern_type,
        pattern_name=body.pattern_name,
        description=body.description,
        quarantine_status=body.quarantine_status,
        quarantine_reason=None,
        quarantined_at=now if body.quarantine_status == "quarantined" else None,
        validated_at=now if body.quarantine_status == "validated" else None,
        first_seen=now,
        last_seen=now,
        application_count=0,
        success_count=0,
        outcome_count=0,
    )
    try:
        return repository.add(pattern)
    except IntegrityError:
        # Another request created the same id between our check and our insert.
        raise ConflictProblem(f"Pattern {pattern_id!r} already exists.") from None


def get_pattern(session: Session, pattern_id: str) -> Pattern:
    return PatternRepository(session).get_or_404(pattern_id)


def list_patterns(
    session: Session, quarantine_status: str | None, page: PageRequest
) -> tuple[Sequence[Pattern], str | None]:
    return PatternRepository(session).page(quarantine_status, page)


def update_status(
    session: Session, clock: Clock, pattern_id: str, body: PatternStatusUpdate
) -> Pattern:
    """Set status and reason; entering `quarantined` or `validated` stamps its time."""
    pattern = PatternRepository(session).get_or_404(pattern_id, for_update=True)
    old_status = pattern.quarantine_status
    entering = body.quarantine_status != old_status
    now = clock()
    if entering and body.quarantine_status == "quarantined":
        pattern.quarantined_at = now
    if entering and body.quarantine_status == "validated":
        pattern.validated_at = now
    pattern.quarantine_status = body.quarantine_status
    pattern.quarantine_reason = body.quarantine_reason
    if entering:
        pattern.status_sequence += 1
    session.flush()
    if entering:  # its webhook event, in this transaction (the outbox)
        outbox.record_status_change(
            session,
            StatusChange(
                pattern_id=pattern.id,
                old_status=old_status,
                new_status=body.quarantine_status,
                cause="request",
                response_id=None,
                sequence=pattern.status_sequence,
            ),
            occurred_at=now,
        )
    return pattern


def record_application(
    session: Session, clock: Clock, pattern_id: str, body: ApplicationCreate
) -> PatternApplication:
    PatternRepository(session).get_or_404(pattern_id)
    return record(session, clock(), [(pattern_id, body)])[0]


def record_applications(
    session: Session, clock: Clock, body: ApplicationBatchCreate
) -> list[PatternApplication]:
    """All or nothing: one unknown pattern id refuses the whole batch, naming each offender."""
    require_known(
        session,
        [item.pattern_id for item in body.applications],
        lambda index: ("body", "applications", index, "pattern_id"),
    )
    return record(session, clock(), [(item.pattern_id, item) for item in body.applications])


def require_known(
    session: Session, pattern_ids: Sequence[str], location: Callable[[int], Sequence[str | int]]
) -> None:
    """A 422 naming every unknown pattern id, each at `location(its index)`."""
    known = PatternRepository(session).existing_ids(set(pattern_ids))
    errors = [
        field_error(location(index), f"unknown pattern {pattern_id!r}", "pattern_unknown")
        for index, pattern_id in enumerate(pattern_ids)
        if pattern_id not in known
    ]
    if errors:
        raise validation_problem(errors)


def report_outcome(
    session: Session, application_id: str, body: ApplicationOutcome
) -> PatternApplication:
    """Set (or correct) an application's outcome, keeping its pattern's counts in step."""
    application = ApplicationRepository(session).get_or_404(application_id, for_update=True)
    before, after = application.pattern_led_to_success, body.pattern_led_to_success
    application.pattern_led_to_success = after
    session.flush()
    PatternRepository(session).record_uses(
        application.pattern_id,
        uses=0,
        successes=int(after is True) - int(before is True),
        outcomes=int(after is not None) - int(before is not None),
        seen_at=application.applied_at,
    )
    return application


def get_application(session: Session, application_id: str) -> PatternApplication:
    return ApplicationRepository(session).get_or_404(application_id)


def record(
    session: Session, applied_at: datetime, items: list[tuple[str, ApplicationFields]]
) -> list[PatternApplication]:
    """Insert applications of existing patterns and count them on their patterns."""
    applications = [
        PatternApplication(
            id=str(uuid.uuid4()),
            pattern_id=pattern_id,
            execution_id=fields.execution_id,
            job_hash=fields.job_hash,
            applied_at=applied_at,
            pattern_led_to_success=fields.pattern_led_to_success,
            retry_count_before=fields.retry_count_before,
            retry_count_after=fields.retry_count_after,
            grounding_confidence=fields.grounding_confidence,
        )
        for pattern_id, fields in items
    ]
    ApplicationRepository(session).add_all(applications)
    uses = Counter(pattern_id for pattern_id, _ in items)
    successes = Counter(pattern_id for pattern_id, f in items if f.pattern_led_to_success)
    outcomes = Counter(
        pattern_id for pattern_id, f in items if f.pattern_led_to_success is not None
    )
    repository = PatternRepository(session)
    for pattern_id in sorted(uses):  # one lock order for every writer of pattern rows
        repository.record_uses(
            pattern_id,
            uses=uses[pattern_id],
            successes=successes[pattern_id],
            outcomes=outcomes[pattern_id],
            seen_at=applied_at,
        )
    diversity.record_applications(
        session, applied_at, [(fields.job_hash, pattern_id) for pattern_id, fields in items]
    )
    return applications
