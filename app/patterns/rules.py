"""Which patterns a selection may pick and an entropy response may revisit: no I/O here."""

from typing import Literal

QuarantineStatus = Literal["pending", "quarantined", "validated", "retired"]
SELECTABLE_STATUSES: tuple[QuarantineStatus, ...] = ("pending", "validated")
"""A selection picks neither retired nor quarantined patterns."""
REVISITED_STATUS: QuarantineStatus = "quarantined"
REVISIT_STATUS: QuarantineStatus = "pending"
"""An entropy response sends quarantined patterns, most recently seen first, back to pending
for revalidation."""
