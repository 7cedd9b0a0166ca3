"""Proactive content negotiation: which offered media type an `Accept` header prefers.

RFC 9110 section 12.5.1: each offered type takes the quality (`q`, 0..1, default 1) of the most
specific media range that matches it (`text/csv;charset=utf-8` > `text/csv` > `text/*` > `*/*`),
so `text/*;q=0.5, text/csv;q=0` refuses CSV; a quality of 0 means "not acceptable"; the order of
the ranges in the header means nothing. Among the acceptable types the highest quality wins, and
a tie goes to the server's order of preference (`offered`'s order).

No `Accept` header (or one with no readable member) accepts anything. A malformed member
(`text`, `q=2`, `*/csv`) is skipped rather than refusing the request, as most servers do.

Hand-written (~100 lines) because the packages that do this (python-mimeparse, accept-types)
are unmaintained, and none applies the most-specific-range rule with parameters.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_QVALUE = re.compile(r"^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$")


@dataclass(frozen=True)
class MediaType:
    """`type/subtype` with its parameters (names and values lower-cased)."""

    type: str
    subtype: str
    params: frozenset[tuple[str, str]] = frozenset()

    @classmethod
    def parse(cls, text: str) -> "MediaType":
        media_range = _parse_member(text)
        if media_range is None or "*" in (media_range.type, media_range.subtype):
            raise ValueError(f"not a media type: {text!r}")
        return cls(media_range.type, media_range.subtype, media_range.params)


@dataclass(frozen=True)
class MediaRange:
    type: str
    subtype: str
    params: frozenset[tuple[str, str]]
    quality: float

    def matches(self, offer: MediaType) -> bool:
        return (
            self.type in ("*", offer.type)
            and self.subtype in ("*", offer.subtype)
            and self.params <= offer.params
        )

    @property
    def specificity(self) -> tuple[int, int]:
        level = 0 if self.type == "*" else 1 if self.subtype == "*" else 2
        return level, len(self.params)


def parse_accept(header: str) -> list[MediaRange]:
    """The readable media ranges of an Accept header (malformed members left out)."""
    ranges = (_parse_member(member) for member in _split(header, ","))
    return [media_range for media_range in ranges if media_range is not None]


def negotiate(header: str | None, offered: Sequence[str]) -> str | None:
    """The member of `offered` (media types, most preferred first) that `header` prefers, or
    None when it accepts none of them."""
    ranges = parse_accept(header) if header else []
    if not ranges:
        return offered[0] if offered else None
    best: str | None = None
    best_quality = 0.0
    for text in offered:
        quality = quality_of(MediaType.parse(text), ranges)
        if quality > best_quality:
            best, best_quality = text, quality
    return best


def quality_of(offer: MediaType, ranges: Sequence[MediaRange]) -> float:
    """The quality of the most specific matching range (the highest among equally specific
    ones); 0 when none matches."""
    matching = [r for r in ranges if r.matches(offer)]
    if not matching:
        return 0.0
    most_specific = max(r.specificity for r in matching)
    return max(r.quality for r in matching if r.specificity == most_specific)


def _parse_member(member: str) -> MediaRange | None:
    parts = _split(member, ";")
    if not parts:
        return None
    type_, slash, subtype = parts[0].strip().partition("/")
    if not slash or not _TOKEN.match(type_) or not _TOKEN.match(subtype):
        return None
    if type_ == "*" and subtype != "*":
        return None
    params: set[tuple[str, str]] = set()
    quality = 1.0
    for part in parts[1:]:
        name, equals, raw_value = part.strip().partition("=")
        name = name.strip().lower()
        value = _unquote(raw_value.strip())
        if not equals or not _TOKEN.match(name) or value is None:
            return None
        if name == "q":
            if not _QVALUE.match(value):
                return None
            quality = float(value)
            break  # what follows the weight are accept-extensions, not media type parameters
        params.add((name, value.lower()))
    return MediaRange(type_.lower(), subtype.lower(), frozenset(params), quality)


def _unquote(value: str) -> str | None:
    if value.startswith('"'):
        if len(value) < 2 or not value.endswith('"'):
            return None
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value if _TOKEN.match(value) else None


def _split(text: str, separator: str) -> list[str]:
    """Split on `separator` outside quoted strings; empty members dropped."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for character in text:
        if escaped:
            escaped = False
        elif quoted and character == "\\":
            escaped = True
        elif character == '"':
            quoted = not quoted
        elif character == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(character)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]
