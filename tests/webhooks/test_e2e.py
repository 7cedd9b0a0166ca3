"""At least once, nothing lost: real uvicorn processes, a real receiver on 127.0.0.1, every
delivery verified with the Standard Webhooks reference library.

- SIGKILL the service while deliveries are in flight, restart it: every event is delivered,
  and a message received twice carries the same webhook-id and body both times.
- Two service processes on one database deliver 1,000 events, none twice while no lease
  expires; with leases made to expire, the duplicates carry the same webhook-id.
- A receiver answering 500, then 200, gets each message on the retry, which verifies.
- A receiver that never answers does not slow readings: they answer within 1 s while every
  dispatcher slot hangs on it.
- PostgreSQL goes away while messages wait and attempts are in flight: once it is back, every
  message is delivered.
"""

import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from alembic import command
from sqlalchemy import Engine, select

from app.cli import alembic_config
from app.core.settings import Settings
from app.models import WebhookDelivery, WebhookMessage
from tests.observability.scrape import scrape, value
from tests.support import (
    TEST_DATABASE,
    Server,
    eventually,
    throwaway_postgres_cluster,
    uvicorn_server,
)
from tests.webhooks.receiver import Delivery, Receiver, Reply, receiver

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

FAST_ENV = {
    "WEBHOOKS_ALLOW_PRIVATE": "true",
    "WEBHOOKS_POLL_SECONDS": "0.05",
    "WEBHOOKS_RETRY_SCHEDULE": "0.2s,0.5s,1s,2s",
    "WEBHOOKS_TIMEOUT_SECONDS": "5",
    "WEBHOOKS_LEASE_SECONDS": "30",
    "ACCESS_LOG": "false",
}


def env(**overrides: str) -> dict[str, str]:
    return FAST_ENV | {f"WEBHOOKS_{k.upper()}": v for k, v in overrides.items()}


def create_endpoint(server: Server, hooks: Receiver) -> str:
    """An endpoint for the receiver, which verifies every delivery with its secret."""
    answer = httpx.post(
        f"{server.base_url}/v1/webhooks",
        json={"url": hooks.url, "events": ["entropy_response.triggered"]},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    secret: str = answer.json()["secret"]
    hooks.secret = secret
    return secret


def trigger_responses(servers: list[Server], count: int, clients: int = 16) -> list[str]:
    """`count` entropy responses (one event each), spread over the servers; their ids.

    Low readings of jobs without a cooldown: each runs a response, and the readings of
    concurrent clients are group-committed, which makes a thousand events quick to write."""
    jobs = [f"job-{number}" for number in range(clients)]
    with httpx.Client(base_url=servers[0].base_url, timeout=30) as http:
        for job in jobs:
            policy = http.put(f"/v1/jobs/{job}/policy", json={"response": NO_COOLDOWN})
            assert policy.status_code == 200, policy.text

    def client(number: int) -> list[str]:
        ids = []
        with httpx.Client(base_url=servers[number % len(servers)].base_url, timeout=30) as http:
            for _ in range(number, count, clients):
                answer = http.post(f"/v1/jobs/{jobs[number]}/entropy-readings", json=LOW)
                assert answer.status_code == 201, answer.text
                ids.append(answer.json()["response"]["id"])
        return ids

    with ThreadPoolExecutor(clients) as pool:
        return [i for ids in pool.map(client, range(clients)) for i in ids]


NO_COOLDOWN = {"cooldown_seconds": 0, "revisit_quarantine": False}
LOW = {"entropy": 0.1}


def outbox_ids(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.scalars(select(WebhookMessage.id)))


def all_delivered(engine: Engine) -> bool:
    with engine.connect() as connection:
        statuses = connection.scalars(select(WebhookDelivery.status)).all()
    return bool(statuses) and set(statuses) == {"delivered"}


def response_ids(deliveries: list[Delivery], secret: str) -> list[str]:
    """The response id each delivery reports, each delivery verified first."""
    return [d.verify(secret)["data"]["id"] for d in deliveries]  # type: ignore[index]


def same_message_every_time(deliveries: list[Delivery]) -> dict[str, int]:
    """How often each message came; every copy of one has the same body."""
    bodies: dict[str, set[bytes]] = defaultdict(set)
    for delivery in deliveries:
        bodies[delivery.message_id].add(delivery.body)
    assert all(len(copies) == 1 for copies in bodies.values())
    return dict(Counter(d.message_id for d in deliveries))


def test_a_sigkill_mid_delivery_loses_nothing_and_duplicates_keep_their_webhook_id(
    database_url: str, engine: Engine, log_dir: Path
) -> None:
    """The receiver holds every request after its tenth until the service is killed: those
    attempts are certainly in flight when it dies."""
    events = 60
    holding = threading.Event()
    holding.set()

    def hold_after_ten(_delivery: Delivery, count: int) -> Reply:
        return Reply(hang=True) if holding.is_set() and count >= 10 else Reply(204)

    settings = env(lease_seconds="2", timeout_seconds="1.5")
    with receiver(hold_after_ten) as hooks:
        with uvicorn_server(database_url, log_dir, workers=2, extra_env=settings) as server:
            secret = create_endpoint(server, hooks)
            acknowledged = trigger_responses([server], events)
            eventually(lambda: hooks.hanging >= 2, 30, "attempts in flight")
            server.crash()
        holding.clear()
        cut_off = {d.message_id for d in hooks.received()}
        assert len(cut_off) < events, "everything was delivered before the crash"
        with uvicorn_server(database_url, log_dir, extra_env=settings):
            hooks.wait_for(lambda d: len({x.message_id for x in d}) == events, timeout=60)
            eventually(lambda: all_delivered(engine), 30, "every delivery recorded")
        got = hooks.received()

    assert sorted(set(response_ids(got, secret))) == sorted(acknowledged)
    assert {d.message_id for d in got} == outbox_ids(engine)
    copies = same_message_every_time(got)
    assert sum(1 for count in copies.values() if count >= 2) >= 2  # the ones cut off


def test_two_processes_deliver_a_thousand_events_none_twice(
    database_url: str, engine: Engine, log_dir: Path
) -> None:
    """Each process may fill only half the endpoint's cap and each reply takes a few
    milliseconds, so neither process can deliver everything alone."""
    events = 1000
    settings = env(max_in_flight_per_endpoint="16", dispatch_concurrency="8")

    def brief_pause(_delivery: Delivery, _count: int) -> Reply:
        return Reply(204, delay=0.005)

    with (
        receiver(brief_pause) as hooks,
        uvicorn_server(database_url, log_dir, extra_env=settings) as first,
        uvicorn_server(database_url, log_dir, extra_env=settings) as second,
    ):
        secret = create_endpoint(first, hooks)
        acknowledged = trigger_responses([first, second], events)
        hooks.wait_for(lambda d: len(d) >= events, timeout=60)
        eventually(lambda: all_delivered(engine), 30, "every delivery recorded")
        time.sleep(0.3)  # nothing more comes
        got = hooks.received()
        delivered_by = [delivered_count(server) for server in (first, second)]

    copies = same_message_every_time(got)
    assert len(got) == events
    assert set(copies.values()) == {1}
    assert sorted(response_ids(got, secret)) == sorted(acknowledged)
    assert sum(delivered_by) == events
    assert all(count > 0 for count in delivered_by), delivered_by


def test_two_processes_whose_leases_expire_duplicate_with_the_same_webhook_id(
    database_url: str, engine: Engine, log_dir: Path
) -> None:
    """The first attempt of each message outlasts its lease: another claim (by either process)
    sends it again."""
    events = 30
    seen: set[str] = set()
    lock = threading.Lock()

    def slow_first_time(delivery: Delivery, _count: int) -> Reply:
        with lock:
            first_time = delivery.message_id not in seen
            seen.add(delivery.message_id)
        return Reply(204, delay=1.2 if first_time else 0.0)

    settings = env(lease_seconds="0.5", timeout_seconds="5", max_in_flight_per_endpoint="64")
    with (
        receiver(slow_first_time) as hooks,
        uvicorn_server(database_url, log_dir, extra_env=settings) as first,
        uvicorn_server(database_url, log_dir, extra_env=settings) as second,
    ):
        secret = create_endpoint(first, hooks)
        acknowledged = trigger_responses([first, second], events)
        eventually(lambda: all_delivered(engine), 30, "every delivery recorded")
        got = hooks.received()

    copies = same_message_every_time(got)
    assert sorted(set(response_ids(got, secret))) == sorted(acknowledged)
    assert set(copies) == outbox_ids(engine)
    assert sum(1 for count in copies.values() if count >= 2) >= events // 2


def test_a_receiver_answering_500_then_200_gets_each_message_on_the_retry(
    database_url: str, engine: Engine, log_dir: Path
) -> None:
    attempts: Counter[str] = Counter()
    lock = threading.Lock()

    def fail_first(delivery: Delivery, _count: int) -> Reply:
        with lock:
            attempts[delivery.message_id] += 1
            return Reply(500) if attempts[delivery.message_id] == 1 else Reply(200)

    with (
        receiver(fail_first) as hooks,
        uvicorn_server(database_url, log_dir, extra_env=env()) as server,
    ):
        secret = create_endpoint(server, hooks)
        acknowledged = trigger_responses([server], 5)
        eventually(lambda: all_delivered(engine), 30, "every delivery recorded")
        got = hooks.received()

    assert same_message_every_time(got) == dict.fromkeys(outbox_ids(engine), 2)
    assert sorted(set(response_ids(got, secret))) == sorted(acknowledged)


def test_a_receiver_that_never_answers_does_not_slow_readings(
    database_url: str, log_dir: Path
) -> None:
    settings = env(
        dispatch_concurrency="4",
        max_in_flight_per_endpoint="4",
        timeout_seconds="60",
        lease_seconds="120",
    )
    with (
        receiver(lambda _d, _n: Reply(hang=True)) as dead,
        uvicorn_server(database_url, log_dir, extra_env=settings) as server,
        httpx.Client(base_url=server.base_url, timeout=10) as http,
    ):
        create_endpoint(server, dead)
        policy = http.put("/v1/jobs/job-1/policy", json={"response": {"cooldown_seconds": 0}})
        assert policy.status_code == 200, policy.text
        for _ in range(4):  # four responses: four messages, one per dispatcher slot
            assert http.post("/v1/jobs/job-1/entropy-readings", json={"entropy": 0.1}).is_success
        eventually(lambda: dead.hanging == 4, 10, "every dispatcher slot hanging")

        latencies = []
        for number in range(100):  # each a response too: more messages for the dead endpoint
            started = time.monotonic()
            answer = http.post(
                "/v1/jobs/job-1/entropy-readings", json={"entropy": 0.05 + (number % 5) / 100}
            )
            latencies.append(time.monotonic() - started)
            assert answer.status_code == 201, answer.text
            assert answer.json()["response"] is not None
        assert dead.hanging == 4  # still every slot

    assert max(latencies) < 1.0, f"slowest reading took {max(latencies):.3f} s"


@pytest.mark.skipif(TEST_DATABASE != "postgresql", reason="a PostgreSQL outage")
def test_deliveries_resume_after_a_database_outage(tmp_path: Path) -> None:
    failing = threading.Event()
    failing.set()
    answered: set[str] = set()
    lock = threading.Lock()

    def fail_until_told(delivery: Delivery, _count: int) -> Reply:
        if failing.is_set():
            return Reply(503, delay=0.2)
        with lock:
            answered.add(delivery.message_id)
        return Reply(204)

    with throwaway_postgres_cluster() as cluster:
        command.upgrade(alembic_config(Settings(database_url=cluster.url)), "head")
        with (
            receiver(fail_until_told) as hooks,
            uvicorn_server(cluster.url, tmp_path, extra_env=env(), via_cli=True) as server,
            httpx.Client(base_url=server.base_url, timeout=10) as http,
        ):
            secret = create_endpoint(server, hooks)
            acknowledged = trigger_responses([server], 20, clients=4)
            hooks.wait_for(lambda d: len(d) >= 5)  # attempts in flight, failing
            cluster.stop()
            time.sleep(2)  # attempts end; their outcomes cannot be recorded
            failing.clear()
            cluster.start()
            eventually(lambda: len(answered) == 20, 60, "every message answered 204")
            [endpoint] = http.get("/v1/webhooks").json()["items"]
            eventually(
                lambda: (
                    {
                        a["status"]
                        for a in http.get(f"/v1/webhooks/{endpoint['id']}/attempts").json()["items"]
                    }
                    == {"delivered"}
                ),
                30,
                "every delivery recorded",
            )
        log = server.log_path.read_text()

    assert sorted(set(response_ids(hooks.received(), secret))) == sorted(acknowledged)
    assert "webhook dispatcher cannot reach the database" in log
    assert secret.removeprefix("whsec_") not in log


def delivered_count(server: Server) -> float:
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        samples = scrape(http)
    return value(samples, "entropy_budget_webhook_deliveries_total", outcome="delivered")
