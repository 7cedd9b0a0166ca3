"""Reading /metrics back: the Prometheus text parsed into {(sample name, labels): value}."""

from collections.abc import Mapping
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

READINGS_ROUTE = "/v1/jobs/{job_hash}/entropy-readings"


def parse(exposition: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def scrape(client: Any) -> Samples:
    """GET /metrics with a TestClient or an httpx client; asserts the answer's format."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist (yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def series(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (sample, labels), v in samples.items() if sample == name}


def by_label(samples: Samples, name: str, label: str) -> dict[str, float]:
    """Values of `name` keyed by one label (the metric has only that label)."""
    return {dict(labels)[label]: v for labels, v in series(samples, name).items()}


def requests_of(samples: Samples, route: str, method: str, status: int) -> float:
    return value(
        samples,
        "entropy_budget_http_requests_total",
        method=method,
        route=route,
        status=str(status),
    )


def delta(
    after: Samples, before: Samples
) -> Mapping[tuple[str, frozenset[tuple[str, str]]], float]:
    """What changed between two scrapes (series that moved)."""
    keys = set(after) | set(before)
    return {
        k: after.get(k, 0.0) - before.get(k, 0.0) for k in keys if after.get(k) != before.get(k)
    }
