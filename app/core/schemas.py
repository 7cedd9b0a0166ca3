"""Shared pydantic building blocks: strict request bodies and the field rules of the contract."""

import unicodedata
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

IDENTIFIER_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
IDENTIFIER_FILTER_PATTERN = r"^[A-Za-z0-9._:-]{0,128}$"


class RequestBody(BaseModel):
    """Unknown fields, NaN, Infinity and loosely typed values ("0.5" for 0.5) are a 422."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


class Record(BaseModel):
    """Response bodies, built from ORM rows."""

    model_config = ConfigDict(from_attributes=True)


def _not_a_dot_segment(value: str) -> str:
    if value in {".", ".."}:
        raise ValueError("'.' and '..' are not valid identifiers")
    return value


def _without_control_characters(value: str) -> str:
    return _refuse_control_characters(value, allowed="")


def _without_control_characters_but_whitespace(value: str) -> str:
    return _refuse_control_characters(value, allowed="\t\n\r")


def _refuse_control_characters(value: str, *, allowed: str) -> str:
    for position, character in enumerate(value):
        if character in allowed:
            continue
        # Cc: C0/C1 controls (U+0000...); Cs: lone surrogates, which no UTF-8 database stores.
        if unicodedata.category(character) in {"Cc", "Cs"}:
            raise ValueError(
                f"control character U+{ord(character):04X} at position {position} is not allowed"
            )
    return value


Identifier = Annotated[
    str,
    StringConstraints(pattern=IDENTIFIER_PATTERN),
    AfterValidator(_not_a_dot_segment),
]
"""job_hash and pattern ids: 1-128 chars of [A-Za-z0-9._:-], but not '.' or '..'."""

IdentifierFilter = Annotated[
    str,
    StringConstraints(pattern=IDENTIFIER_FILTER_PATTERN),
    AfterValidator(_not_a_dot_segment),
]
"""A job_hash query filter: empty means every job."""

# The control characters refused, as a JSON Schema pattern (documentation only: the validators
# above do the refusing, with a message naming the character and its position).
NO_CONTROL_CHARACTERS = r"^[^\u0000-\u001f\u007f-\u009f]*$"
NO_CONTROL_CHARACTERS_BUT_WHITESPACE = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"

ShortText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255),
    AfterValidator(_without_control_characters),
    Field(json_schema_extra={"pattern": NO_CONTROL_CHARACTERS}),
]
LongText = Annotated[
    str,
    StringConstraints(max_length=10_000),
    AfterValidator(_without_control_characters_but_whitespace),
    Field(json_schema_extra={"pattern": NO_CONTROL_CHARACTERS_BUT_WHITESPACE}),
]

UnitInterval = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
"""Entropies, thresholds, budgets, floors, ceilings, confidences: finite and within [0, 1]."""


def _integral_number(value: object) -> object:
    """JSON has numbers, not integers: 3.0 is the integer 3 (as JSON Schema's `integer` says),
    while 3.5 stays a float and fails the strict integer check."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


INTEGRAL = BeforeValidator(_integral_number)
"""Put last in the `Annotated` of an integer field of a request body (after its bounds, which
then stay `minimum`/`maximum` in the JSON schema): accepts 861 and 861.0, not 861.5 nor "861"."""

RetryCount = Annotated[int, Field(ge=0, le=2_147_483_647), INTEGRAL]
