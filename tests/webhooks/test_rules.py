"""The webhook rules: signatures as the Standard Webhooks reference library reads them, the
retry schedule, and what each answer means."""

import base64
import random
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from app.webhooks import rules

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SCHEDULE = (5.0, 300.0, 1800.0)


def headers(message_id: str, timestamp: int, signature: str) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def test_a_new_secret_is_whsec_and_the_base64_of_32_random_bytes() -> None:
    made = {rules.new_secret() for _ in range(100)}

    assert len(made) == 100
    for secret in made:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32


def test_message_ids_never_contain_the_separator_of_the_signed_content() -> None:
    ids = {rules.new_message_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(i.startswith("msg_") and "." not in i for i in ids)


def test_the_signature_is_the_one_the_reference_library_computes_and_accepts() -> None:
    secret = rules.new_secret()
    body = '{"type":"ping","timestamp":"2026-03-01T12:00:00Z","data":{"x":"é"}}'.encode()
    timestamp = int(datetime.now(UTC).timestamp())

    signature = rules.signature_header([secret], "msg_1", timestamp, body)

    reference = Webhook(secret).sign("msg_1", datetime.fromtimestamp(timestamp, UTC), body)
    assert signature == reference
    assert Webhook(secret).verify(body, headers("msg_1", timestamp, signature)) == {
        "type": "ping",
        "timestamp": "2026-03-01T12:00:00Z",
        "data": {"x": "é"},
    }


def test_during_a_rotation_either_secret_verifies_the_two_signatures() -> None:
    old, new = rules.new_secret(), rules.new_secret()
    body = b'{"type":"ping"}'
    timestamp = int(datetime.now(UTC).timestamp())

    signature = rules.signature_header([new, old], "msg_2", timestamp, body)

    assert len(signature.split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(body, headers("msg_2", timestamp, signature))
    with pytest.raises(WebhookVerificationError):
        Webhook(rules.new_secret()).verify(body, headers("msg_2", timestamp, signature))


def test_the_previous_secret_signs_until_its_overlap_ends() -> None:
    expires = NOW + rules.SECRET_OVERLAP

    assert rules.signing_secrets("new", "old", expires, NOW) == ["new", "old"]
    assert rules.signing_secrets("new", "old", expires, expires - timedelta(seconds=1)) == [
        "new",
        "old",
    ]
    assert rules.signing_secrets("new", "old", expires, expires) == ["new"]
    assert rules.signing_secrets("new", None, None, NOW) == ["new"]


def test_the_default_schedule_parses_to_its_seconds() -> None:
    assert rules.parse_schedule(rules.DEFAULT_RETRY_SCHEDULE) == (
        5,
        300,
        1800,
        7200,
        18000,
        36000,
        36000,
    )
    assert rules.parse_schedule("250ms, 1.5s,1d") == (0.25, 1.5, 86400)


@pytest.mark.parametrize("bad", ["", "5", "5x", "5s,,5m", "-1s", "5 s s", "1e3s"])
def test_a_malformed_schedule_is_refused_naming_the_entry(bad: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        rules.parse_schedule(bad)


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_any_2xx_is_delivered(status: int) -> None:
    verdict = rules.judge_attempt(status, None, failures_so_far=2, schedule=SCHEDULE)
    assert (verdict.status, verdict.outcome, verdict.retry_in) == ("delivered", "delivered", None)


def test_410_fails_the_message_and_disables_the_endpoint_at_once() -> None:
    verdict = rules.judge_attempt(410, None, failures_so_far=0, schedule=SCHEDULE)
    assert (verdict.status, verdict.outcome, verdict.disable_endpoint) == ("failed", "gone", True)


@pytest.mark.parametrize("status", [None, 300, 301, 400, 404, 409, 429, 500, 502, 503, 504])
def test_other_answers_retry_on_the_schedule_with_jitter_then_fail(status: int | None) -> None:
    rng = random.Random(7)
    for failures, delay in enumerate(SCHEDULE):
        verdict = rules.judge_attempt(
            status, None, failures_so_far=failures, schedule=SCHEDULE, rng=rng
        )
        assert (verdict.status, verdict.outcome) == ("pending", "retry")
        assert verdict.retry_in is not None
        assert delay * (1 - rules.JITTER) <= verdict.retry_in <= delay * (1 + rules.JITTER)
    last = rules.judge_attempt(status, None, failures_so_far=len(SCHEDULE), schedule=SCHEDULE)
    assert (last.status, last.outcome, last.retry_in) == ("failed", "failed", None)


def test_jitter_spreads_the_retries() -> None:
    rng = random.Random(1)
    delays = {
        rules.judge_attempt(500, None, failures_so_far=0, schedule=SCHEDULE, rng=rng).retry_in
        for _ in range(50)
    }
    assert len(delays) == 50


@pytest.mark.parametrize("status", [429, 502, 504])
def test_429_502_504_wait_at_least_retry_after(status: int) -> None:
    verdict = rules.judge_attempt(status, 120.0, failures_so_far=0, schedule=SCHEDULE)
    assert verdict.retry_in == 120.0
    # A Retry-After shorter than the schedule's step does not hurry the retry.
    sooner = rules.judge_attempt(status, 1.0, failures_so_far=1, schedule=SCHEDULE)
    assert sooner.retry_in is not None
    assert sooner.retry_in >= 300 * (1 - rules.JITTER)


@pytest.mark.parametrize("status", [500, 503])
def test_retry_after_of_other_statuses_is_not_followed(status: int) -> None:
    verdict = rules.judge_attempt(status, 120.0, failures_so_far=0, schedule=SCHEDULE)
    assert verdict.retry_in is not None
    assert verdict.retry_in <= 5 * (1 + rules.JITTER)


def test_retry_after_reads_seconds_and_http_dates_and_caps_them() -> None:
    assert rules.parse_retry_after("30", NOW) == 30
    assert rules.parse_retry_after(" 0 ", NOW) == 0
    assert rules.parse_retry_after("Sun, 01 Mar 2026 12:02:00 GMT", NOW) == 120
    assert rules.parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", NOW) == 0  # past: now
    assert rules.parse_retry_after("99999999", NOW) == rules.MAX_RETRY_AFTER.total_seconds()
    for unreadable in (None, "", "soon", "-5", "1.5", "Sun, 99 Foo 2026"):
        assert rules.parse_retry_after(unreadable, NOW) is None
