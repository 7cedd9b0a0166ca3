"""Queries on `patterns` and `pattern_applications`."""

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import case, select, update

from app.core.pagination import PageRequest, keyset_page
from app.core.repository import RepositoryBase
from app.models import Pattern, PatternApplication
from app.patterns import rules


class Revisit(NamedTuple):
    """A pattern a response sent back to pending, and its status sequence after that change."""

    pattern_id: str
    status_sequence: int


class PatternRepository(RepositoryBase[Pattern]):
    model = Pattern
    noun = "pattern"
    blocks_references = False  # every application's foreign key check reads its pattern

    def existing_ids(self, pattern_ids: Collection[str]) -> set[str]:
        statement = select(Pattern.id).where(Pattern.id.in_(pattern_ids))
        return set(self.session.scalars(statement))

    def add(self, pattern: Pattern) -> Pattern:
        self.session.add(pattern)
        self.session.flush()
        return pattern

    def page(
        self, quarantine_status: str | None, page: PageRequest
    ) -> tuple[Sequence[Pattern], str | None]:
        statement = select(Pattern)
        if quarantine_status:
            statement = statement.where(Pattern.quarantine_status == quarantine_status)
        return keyset_page(
            self.session, statement, at=Pattern.last_seen, seq=Pattern.seq, page=page
        )

    def candidates(self, pattern_ids: Collection[str] | None) -> list[Pattern]:
        """Patterns a selection may pick (neither retired nor quarantined), optionally among ids."""
        statement = select(Pattern).where(Pattern.quarantine_status.in_(rules.SELECTABLE_STATUSES))
        if pattern_ids is not None:
            statement = statement.where(Pattern.id.in_(pattern_ids))
        return list(self.session.scalars(statement.order_by(Pattern.id)))

    def application_counts(self) -> list[int]:
        """Maintained application count of every pattern, in id order (the scan's order)."""
        return list(self.session.scalars(select(Pattern.application_count).order_by(Pattern.id)))

    def record_uses(
        self, pattern_id: str, *, uses: int, successes: int, outcomes: int, seen_at: datetime
    ) -> None:
        """Count applications in place (no read-modify-write) and move `last_seen` forward."""
        self.session.execute(
            update(Pattern)
            .where(Pattern.id == pattern_id)
            .values(
                application_count=Pattern.application_count + uses,
                success_count=Pattern.success_count + successes,
                outcome_count=Pattern.outcome_count + outcomes,
                last_seen=case((Pattern.last_seen < seen_at, seen_at), else_=Pattern.last_seen),
            )
            .execution_options(synchronize_session=False)
        )

    def revisit_quarantined(self, limit: int, reason: str) -> list[Revisit]:
        """Send up to `limit` quarantined patterns, most recently seen first, back to pending
        (`rules.REVISITED_STATUS` to `rules.REVISIT_STATUS`).

        The caller holds the quarantine-revisit lock. Rows are locked in id order (the order
        application writers lock them in), FOR NO KEY UPDATE so the key-share locks of foreign
        key checks never wait on us, and re-checked, since a PATCH may have moved one.
        """
        candidates = list(
            self.session.scalars(
                select(Pattern.id)
                .where(Pattern.quarantine_status == rules.REVISITED_STATUS)
                .order_by(Pattern.last_seen.desc(), Pattern.seq.desc())
                .limit(limit)
            )
        )
        if not candidates:
            return []
        still_quarantined = set(
            self.session.scalars(
                select(Pattern.id)
                .where(
                    Pattern.id.in_(candidates),
                    Pattern.quarantine_status == rules.REVISITED_STATUS,
                )
                .order_by(Pattern.id)
                .with_for_update(key_share=True)
            )
        )
        revisited = [pattern_id for pattern_id in candidates if pattern_id in still_quarantined]
        if not revisited:
            return []
        changed = self.session.execute(
            update(Pattern)
            .where(Pattern.id.in_(revisited))
            .values(
                quarantine_status=rules.REVISIT_STATUS,
                quarantine_reason=reason,
                status_sequence=Pattern.status_sequence + 1,
            )
            .returning(Pattern.id, Pattern.status_sequence)
            .execution_options(synchronize_session=False)
        )
        sequences = {row.id: row.status_sequence for row in changed}
        return [Revisit(pattern_id, sequences[pattern_id]) for pattern_id in revisited]


class ApplicationRepository(RepositoryBase[PatternApplication]):
    model = PatternApplication
    noun = "pattern application"

    def add_all(self, applications: Sequence[PatternApplication]) -> None:
        self.session.add_all(applications)
        self.session.flush()
