"""Queries on the diversity tables: registered half-lives, per-job counts and the forward-decay
weights (`diversity_weights`, job_hash '' for the global scope)."""

from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from datetime import datetime

from sqlalchemy import TextClause, delete, func, insert, select, text
from sqlalchemy.orm import Session

from app.core.orm import json_parameter
from app.diversity.rules import MICROSECONDS_PER_SECOND, RESCALE_AFTER_HALF_LIVES, DecayedWeight
from app.models import (
    DiversityHalfLife,
    DiversityWeight,
    JobPatternCount,
    Pattern,
    PatternApplication,
)

UNDERFLOW_FLOOR_LOG2 = -1000
"""Exponents below this are raised to it in SQL (2**-1000 is far below a double's precision
next to 1, and above its smallest value)."""
GLOBAL_SCOPE_KEY = ""
"""`diversity_weights.job_hash` of the global scope's rows (never a valid job hash)."""


class DiversityRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name

    # Half-lives ---------------------------------------------------------------------------

    def registered(self) -> list[int]:
        statement = select(DiversityHalfLife.half_life_seconds).order_by(
            DiversityHalfLife.half_life_seconds
        )
        return list(self.session.scalars(statement))

    def register(self, half_life_seconds: int, now: datetime) -> None:
        self.session.execute(
            insert(DiversityHalfLife).values(half_life_seconds=half_life_seconds, registered_at=now)
        )

    def unregister(self, half_life_seconds: int) -> bool:
        result = self.session.execute(
            delete(DiversityHalfLife).where(
                DiversityHalfLife.half_life_seconds == half_life_seconds
            )
        )
        self.delete_weights(half_life_seconds)
        return bool(getattr(result, "rowcount", 0))

    def lock_applications(self) -> None:
        """Hold off every writer of applications until commit (readers go on). SQLite: the
        write transaction (BEGIN IMMEDIATE) already does."""
        if self.dialect == "postgresql":
            self.session.execute(
                text("LOCK TABLE pattern_applications IN SHARE ROW EXCLUSIVE MODE")
            )

    # Writes -------------------------------------------------------------------------------

    def record(self, uses: Mapping[tuple[str | None, str], int], applied_at_us: int) -> None:
        """Count a batch's applications per job, and add their weight to every registered
        half-life's rows, global and per job: two sorted multi-row upserts, O(1) per row.
        `uses`: how many applications of a pattern the batch records with a job (None: no job)."""
        with_job = sorted(
            (job_hash, pattern_id, n)
            for (job_hash, pattern_id), n in uses.items()
            if job_hash is not None
        )
        if with_job:
            self.session.execute(_COUNT_UPSERT[self.dialect], {"items": json_parameter(with_job)})
        weighted: Counter[tuple[str, str]] = Counter()
        for (job_hash, pattern_id), n in uses.items():
            weighted[GLOBAL_SCOPE_KEY, pattern_id] += n
            if job_hash is not None:
                weighted[job_hash, pattern_id] += n
        items = sorted((job_key, pattern_id, n) for (job_key, pattern_id), n in weighted.items())
        self.session.execute(
            _WEIGHT_UPSERT[self.dialect],
            {"items": json_parameter(items), "landmark": applied_at_us},
        )

    def delete_weights(self, half_life_seconds: int) -> None:
        self.session.execute(
            delete(DiversityWeight).where(DiversityWeight.half_life_seconds == half_life_seconds)
        )

    def add_weights(
        self, half_life_seconds: int, weights: Mapping[tuple[str, str], tuple[int, float]]
    ) -> None:
        """Insert one half-life's filled accumulators, {(job_hash, pattern_id): (landmark_us,
        weight)}, sorted by key (the writers' lock order)."""
        rows = [
            {
                "job_hash": job_hash,
                "pattern_id": pattern_id,
                "half_life_seconds": half_life_seconds,
                "landmark_us": landmark_us,
                "weight": weight,
            }
            for (job_hash, pattern_id), (landmark_us, weight) in sorted(weights.items())
        ]
        for start in range(0, len(rows), 5000):
            self.session.execute(insert(DiversityWeight), rows[start : start + 5000])

    # Reads --------------------------------------------------------------------------------

    def weights(
        self, job_hashes: Collection[str | None], half_life_seconds: int
    ) -> dict[str | None, list[DecayedWeight]]:
        """The accumulators of each scope (a job, or None: global) at one half-life."""
        keys = {GLOBAL_SCOPE_KEY if job_hash is None else job_hash for job_hash in job_hashes}
        statement = select(
            DiversityWeight.job_hash,
            DiversityWeight.pattern_id,
            DiversityWeight.landmark_us,
            DiversityWeight.weight,
        ).where(
            DiversityWeight.job_hash.in_(sorted(keys)),
            DiversityWeight.half_life_seconds == half_life_seconds,
        )
        weights: dict[str | None, list[DecayedWeight]] = {job: [] for job in job_hashes}
        for key, pattern_id, landmark_us, weight in self.session.execute(statement):
            scope = None if key == GLOBAL_SCOPE_KEY else key
            weights[scope].append(DecayedWeight(pattern_id, landmark_us, weight))
        return weights

    def job_counts(self, job_hashes: Collection[str]) -> dict[str, dict[str, int]]:
        """Each job's all-time applications per pattern (patterns it never applied absent)."""
        statement = select(
            JobPatternCount.job_hash, JobPatternCount.pattern_id, JobPatternCount.application_count
        ).where(JobPatternCount.job_hash.in_(sorted(job_hashes)))
        counts: dict[str, dict[str, int]] = {job_hash: {} for job_hash in job_hashes}
        if not counts:
            return counts
        for job_hash, pattern_id, application_count in self.session.execute(statement):
            counts[job_hash][pattern_id] = application_count
        return counts

    def pattern_totals(self) -> tuple[int, int]:
        """(patterns, applications of every pattern): the global scope's counts."""
        count, total = self.session.execute(
            select(func.count(), func.coalesce(func.sum(Pattern.application_count), 0))
        ).one()
        return int(count), int(total)

    def applications(self) -> Iterator[tuple[str | None, str, datetime]]:
        """Every stored application's (job_hash, pattern_id, applied_at), streamed."""
        statement = select(
            PatternApplication.job_hash,
            PatternApplication.pattern_id,
            PatternApplication.applied_at,
        ).execution_options(yield_per=10_000)
        yield from self.session.execute(statement)


def _upserts(items: str, float_type: str, greatest: str) -> tuple[TextClause, TextClause]:
    """The two statements of `record`, from a dialect's JSON row source (columns job_hash,
    pattern_id, uses, position), its name for a double and for the larger of two values."""
    counts = text(
        "INSERT INTO job_pattern_counts (job_hash, pattern_id, application_count) "
        f"SELECT i.job_hash, i.pattern_id, i.uses FROM {items} WHERE true ORDER BY i.position "
        "ON CONFLICT (job_hash, pattern_id) DO UPDATE SET application_count = "
        "job_pattern_counts.application_count + excluded.application_count"
    )
    row = "diversity_weights"
    since = f"excluded.landmark_us - {row}.landmark_us"
    elapsed = f"CAST({since} AS {float_type})"

    def power_of_two(exponent: str) -> str:
        # PostgreSQL raises an error where a float underflows: 2**-1000 is as good as 0 next
        # to the weights it is added to or scales (at least 1).
        return f"power(2.0, {greatest}({exponent}, {UNDERFLOW_FLOOR_LOG2}))"

    period = f"(CAST({MICROSECONDS_PER_SECOND} AS {float_type}) * {row}.half_life_seconds)"
    within = (
        f"{since} <= CAST({RESCALE_AFTER_HALF_LIVES * MICROSECONDS_PER_SECOND} AS BIGINT) "
        f"* {row}.half_life_seconds"
    )
    # Within 512 half-lives of the row's landmark: add 2**((t - L)/h) per application. Beyond:
    # rescale the row to t and add 1 per application (every SET expression reads the old row).
    weights = text(
        "INSERT INTO diversity_weights "
        "(job_hash, pattern_id, half_life_seconds, landmark_us, weight) "
        "SELECT i.job_hash, i.pattern_id, h.half_life_seconds, :landmark, "
        f"CAST(i.uses AS {float_type}) FROM {items} CROSS JOIN diversity_half_lives AS h "
        "WHERE true ORDER BY i.position, h.half_life_seconds "
        "ON CONFLICT (job_hash, pattern_id, half_life_seconds) DO UPDATE SET "
        f"weight = CASE WHEN {within} "
        f"THEN {row}.weight + excluded.weight * {power_of_two(f'{elapsed} / {period}')} "
        f"ELSE {row}.weight * {power_of_two(f'-{elapsed} / {period}')} "
        "+ excluded.weight END, "
        f"landmark_us = CASE WHEN {within} THEN {row}.landmark_us ELSE excluded.landmark_us END"
    )
    return counts, weights


_POSTGRESQL = _upserts(
    "(SELECT e.value ->> 0 AS job_hash, e.value ->> 1 AS pattern_id,"
    " CAST(e.value ->> 2 AS BIGINT) AS uses, e.position"
    " FROM json_array_elements(CAST(:items AS json)) WITH ORDINALITY AS e(value, position)) AS i",
    "DOUBLE PRECISION",
    "GREATEST",
)
_SQLITE = _upserts(
    "(SELECT json_extract(value, '$[0]') AS job_hash, json_extract(value, '$[1]') AS pattern_id,"
    " json_extract(value, '$[2]') AS uses, key AS position FROM json_each(:items)) AS i",
    "REAL",
    "max",
)
_COUNT_UPSERT = {"postgresql": _POSTGRESQL[0], "sqlite": _SQLITE[0]}
_WEIGHT_UPSERT = {"postgresql": _POSTGRESQL[1], "sqlite": _SQLITE[1]}
