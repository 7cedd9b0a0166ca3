"""The Accept header parser and the choice among offered media types (RFC 9110 12.5.1)."""

import pytest

from app.core.negotiation import MediaType, negotiate, parse_accept

JSON = "application/json"
CSV = "text/csv; charset=utf-8; header=present"
NDJSON = "application/x-ndjson"
OFFERED = (JSON, CSV, NDJSON)


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/json", JSON),
        ("text/csv", CSV),
        ("application/x-ndjson", NDJSON),
        ("TEXT/CSV", CSV),
        ("text/*", CSV),
        ("application/*", JSON),
        ("application/*, application/json;q=0.1", NDJSON),
        ("application/json;q=0.5, text/csv", CSV),
        ("text/csv;q=0.4, application/x-ndjson;q=0.9, application/json;q=0.5", NDJSON),
        ("text/csv, application/json", JSON),  # a tie goes to the server's preference
        ("text/csv, */*;q=0.1", CSV),
        ("*/*;q=0.1, text/csv;q=0", JSON),
        ("text/*;q=0.5, text/csv;q=0", None),
        ("*/*, application/json;q=0, text/csv;q=0", NDJSON),
        ("text/csv;charset=utf-8", CSV),
        ('text/csv;charset="UTF-8"', CSV),
        ("text/csv;header=present;q=0.9", CSV),
        ("text/csv;charset=latin1", None),
        ("text/csv;charset=latin1, text/csv;q=0.2", CSV),
        ("text/csv;charset=utf-8;q=0, text/csv", None),  # the more specific range rules
        ("image/png", None),
        ("image/png, text/html", None),
        ("application/json;q=0", None),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", JSON),
        ("application/problem+json", None),
        ("application/json; q=0.5 ; level=1, text/csv;q=0.4", JSON),  # accept-extension ignored
    ],
)
def test_the_preferred_acceptable_type_is_chosen(accept: str | None, chosen: str | None) -> None:
    assert negotiate(accept, OFFERED) == chosen


@pytest.mark.parametrize(
    "accept",
    [
        "text",  # no subtype
        "*/csv",  # a wildcard type needs a wildcard subtype
        "text/csv;q=2",
        "text/csv;q=0.1234",
        "text/csv;q=",
        "text/csv;q=high",
        "text/csv;=utf-8",
        "te xt/csv",
        ";;;",
    ],
)
def test_a_malformed_member_is_skipped(accept: str) -> None:
    assert parse_accept(accept) == []
    # Nothing readable: as if there were no header, the default representation.
    assert negotiate(accept, OFFERED) == JSON
    # Beside a readable member, only that member counts.
    assert negotiate(f"{accept}, text/csv", OFFERED) == CSV


def test_an_unterminated_quoted_string_swallows_the_rest_of_the_header() -> None:
    assert parse_accept('text/csv;charset="utf-8, application/json') == []
    assert negotiate('image/png, text/csv;charset="utf-8, text/csv', OFFERED) is None


def test_qualities_parse_with_their_precision() -> None:
    ranges = parse_accept("text/csv;q=0.123, application/json;q=1.000, */*;Q=0")

    assert [(r.type, r.subtype, r.quality) for r in ranges] == [
        ("text", "csv", 0.123),
        ("application", "json", 1.0),
        ("*", "*", 0.0),
    ]


def test_quoted_strings_may_hold_commas_and_semicolons() -> None:
    ranges = parse_accept('text/csv;note="a, b; c", application/json;q=0.5')

    assert len(ranges) == 2
    assert ranges[0].params == frozenset({("note", "a, b; c")})
    assert ranges[1].quality == 0.5


def test_unoffered_types_beside_offered_ones_are_ignored() -> None:
    assert negotiate("image/png, application/json;q=0.2, text/csv;q=0.3", OFFERED) == CSV


def test_an_offer_must_be_a_concrete_media_type() -> None:
    assert MediaType.parse(CSV) == MediaType(
        "text", "csv", frozenset({("charset", "utf-8"), ("header", "present")})
    )
    with pytest.raises(ValueError, match="not a media type"):
        MediaType.parse("text/*")
