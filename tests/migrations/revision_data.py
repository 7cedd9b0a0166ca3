"""Realistic rows for a database at each revision, for the data-preserving migration tests.

`ROWS_AT[revision]()` returns, per table, the rows a database at that revision could hold,
written against the tables as they are at that revision (not the ORM models, which describe
head). Every revision needs an entry: the step tests fill the database at a step's
down_revision and, for the downgrade, at the step's revision. A new migration therefore adds
`rows_at_<revision>` here (usually the previous revision's rows plus the new tables and
columns) and registers it in `ROWS_AT`.

The rows are chosen to catch what migrations get wrong: nullable columns both null and set,
booleans true/false/null, JSON lists (empty too), non-ASCII text, floats that do not round-trip
through a narrower type, a count beyond 32 bits, bytes that are not UTF-8, a foreign key in use.
"""

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

Row = dict[str, Any]
Rows = dict[str, list[Row]]

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _applications() -> list[Row]:
    """Applications of three patterns: `p-mixed` with outcomes true, false and unknown;
    `p-unknown` with unknown outcomes only; `p-unused` has none."""
    outcomes = [
        ("p-mixed", True, "job-a"),
        ("p-mixed", True, "job-a"),
        ("p-mixed", False, "job-b"),
        ("p-mixed", None, None),
        ("p-unknown", None, "job-a"),
        ("p-unknown", None, "job-b"),
        ("p-success", True, "job-b"),
    ]
    return [
        {
            "id": f"app-{index:02d}",
            "pattern_id": pattern_id,
            "execution_id": f"exec-{index:02d}",
            "job_hash": job_hash,
            "applied_at": at(60 * index + 0.000123),
            "pattern_led_to_success": outcome,
            "retry_count_before": index % 3,
            "retry_count_after": 0 if outcome else index % 2,
            "grounding_confidence": None if outcome is None else 0.1 + 0.2,
        }
        for index, (pattern_id, outcome, job_hash) in enumerate(outcomes, start=1)
    ]


def _patterns(applications: list[Row]) -> list[Row]:
    rows = [
        {
            "id": "p-mixed",
            "pattern_type": "retry",
            "pattern_name": "Exponential back-off",
            "description": "Réessaie avec délai — ✓ ünïcode",
            "quarantine_status": "validated",
            "quarantine_reason": None,
            "quarantined_at": None,
            "validated_at": at(30),
        },
        {
            "id": "p-unknown",
            "pattern_type": "grounding",
            "pattern_name": "Cite the source",
            "description": None,
            "quarantine_status": "quarantined",
            "quarantine_reason": "Dominates 75% of applications",
            "quarantined_at": at(400),
            "validated_at": None,
        },
        {
            "id": "p-success",
            "pattern_type": "retry",
            "pattern_name": "Ask again",
            "description": "",
            "quarantine_status": "pending",
            "quarantine_reason": None,
            "quarantined_at": None,
            "validated_at": None,
        },
        {
            "id": "p-unused",
            "pattern_type": "planning",
            "pattern_name": "Plan first",
            "description": "Never applied yet",
            "quarantine_status": "retired",
            "quarantine_reason": "Superseded",
            "quarantined_at": at(10),
            "validated_at": None,
        },
    ]
    for row in rows:
        mine = [a for a in applications if a["pattern_id"] == row["id"]]
        times = [a["applied_at"] for a in mine] or [at(5)]
        row |= {
            "first_seen": min(times),
            "last_seen": max(times),
            "application_count": len(mine),
            "success_count": sum(1 for a in mine if a["pattern_led_to_success"] is True),
        }
    return rows


def _budget_records() -> list[Row]:
    """Two jobs, each a job_seq chain from its initial record, interleaved in time."""
    chains = {
        "job-a": [
            (0.15, 0.2, "initial", "Initial budget set"),
            (0.25, 0.2, "boost", "Entropy 0.200 < threshold 0.300"),
            (0.2375, 0.8, "decay", "Entropy 0.800 >= threshold, decaying"),
            (0.5, None, "ceiling_enforced", "Budget 0.900 enforced to ceiling 0.500"),
        ],
        "job-b": [
            (0.15, 0.9, "initial", "Initial budget set"),
            (0.05, None, "floor_enforced", "Budget 0.010 enforced to floor 0.050"),
            (0.123456789012345, None, "manual", None),
        ],
    }
    return [
        {
            "id": f"{job_hash}-budget-{job_seq}",
            "job_hash": job_hash,
            "job_seq": job_seq,
            # Both chains start in the same microsecond (seq breaks such ties), then interleave.
            "recorded_at": at(100 * job_seq + (offset if job_seq > 1 else 0) + 0.5),
            "budget_value": value,
            "entropy_at_time": entropy,
            "adjustment_type": kind,
            "adjustment_reason": reason,
        }
        for offset, (job_hash, chain) in enumerate(chains.items())
        for job_seq, (value, entropy, kind, reason) in enumerate(chain, start=1)
    ]


def _entropy_responses() -> list[Row]:
    return [
        {
            "id": "response-1",
            "job_hash": "job-a",
            "recorded_at": at(500),
            "entropy_at_trigger": 0.2,
            "threshold_used": 0.3,
            "actions_taken": ["budget_boost", "quarantine_revisit"],
            "budget_boosted": True,
            "quarantine_revisits": 1,
            "patterns_revisited": ["p-unknown"],
        },
        {
            "id": "response-2",
            "job_hash": "job-b",
            "recorded_at": at(4200),
            "entropy_at_trigger": 0.0,
            "threshold_used": 0.3,
            "actions_taken": [],
            "budget_boosted": False,
            "quarantine_revisits": 0,
            "patterns_revisited": [],
        },
    ]


def _snapshots() -> list[Row]:
    return [
        {
            "id": "snapshot-1",
            "calculated_at": at(600),
            "shannon_entropy": 1.0397207708399179,
            "max_possible_entropy": 1.3862943611198906,
            "diversity_index": 0.75,
            "unique_pattern_count": 3,
            "effective_pattern_count": 2,
            "total_applications": 7,
            "dominant_pattern_share": 4 / 7,
            "threshold_exceeded": False,
        },
        {
            "id": "snapshot-2",
            "calculated_at": at(700),
            "shannon_entropy": 0.0,
            "max_possible_entropy": 0.0,
            "diversity_index": 0.0,
            "unique_pattern_count": 1,
            "effective_pattern_count": 1,
            "total_applications": 3_000_000_000,
            "dominant_pattern_share": 1.0,
            "threshold_exceeded": True,
        },
    ]


def rows_at_0001() -> Rows:
    applications = _applications()
    return {
        "patterns": _patterns(applications),
        "pattern_applications": applications,
        "exploration_budget": _budget_records(),
        "entropy_responses": _entropy_responses(),
        "pattern_entropy_history": _snapshots(),
    }


def rows_at_0002() -> Rows:
    """0001's rows, with patterns.outcome_count kept as the app keeps it, plus a job policy
    and idempotency keys (one completed with a stored response, one still in flight)."""
    rows = rows_at_0001()
    for pattern in rows["patterns"]:
        pattern["outcome_count"] = sum(
            1
            for a in rows["pattern_applications"]
            if a["pattern_id"] == pattern["id"] and a["pattern_led_to_success"] is not None
        )
    rows["job_policies"] = [
        {
            "job_hash": "job-a",
            "version": 3,
            "updated_at": at(800),
            "floor": 0.05,
            "ceiling": 0.5,
            "decay_rate": 0.95,
            "boost_amount": 0.1,
            "entropy_threshold": 0.3,
            "initial_budget": 0.15,
            "response_enabled": True,
            "response_threshold": 0.3,
            "response_cooldown_seconds": 3600,
            "response_boost_budget": True,
            "response_revisit_quarantine": False,
            "response_max_quarantine_revisits": 5,
            "response_budget_boost_amount": 0.1,
        }
    ]
    # A job whose policy was set before its first reading: a policy without any records.
    rows["job_policies"].append(
        rows["job_policies"][0] | {"job_hash": "job-policy-only", "version": 1, "floor": 0.1}
    )
    rows["idempotency_keys"] = [
        {
            "caller": "write:3f2a",
            "key": "retry-7b1c",
            "fingerprint": "a" * 64,
            "created_at": at(900),
            "expires_at": at(900 + 86400),
            "status_code": 201,
            "response_body": b'{"id":"job-a-budget-4"}\x00\xff',
            "response_headers": {"location": "/v1/budget/records/job-a-budget-4"},
        },
        {
            "caller": "open",
            "key": "in-flight",
            "fingerprint": "b" * 64,
            "created_at": at(901),
            "expires_at": at(901 + 86400),
            "status_code": None,
            "response_body": None,
            "response_headers": None,
        },
    ]
    return rows


def rows_at_0003() -> Rows:
    """0002's rows plus job_heads as the app keeps them: each job's highest job_seq record and
    its newest response; a job with responses but no budget has a head without a budget tip."""
    rows = rows_at_0002()
    heads: dict[str, Row] = {}
    for record in rows["exploration_budget"]:
        head = heads.setdefault(record["job_hash"], {"job_hash": record["job_hash"]})
        if record["job_seq"] > head.get("budget_job_seq", 0):
            head |= {
                "budget_job_seq": record["job_seq"],
                "budget_value": record["budget_value"],
                "budget_recorded_at": record["recorded_at"],
            }
    rows["entropy_responses"].append(
        {
            "id": "response-3",
            "job_hash": "job-responses-only",
            "recorded_at": at(5000),
            "entropy_at_trigger": 0.1,
            "threshold_used": 0.3,
            "actions_taken": ["quarantine_revisit"],
            "budget_boosted": False,
            "quarantine_revisits": 1,
            "patterns_revisited": ["p-unknown"],
        }
    )
    for response in rows["entropy_responses"]:
        head = heads.setdefault(response["job_hash"], {"job_hash": response["job_hash"]})
        head["last_response_at"] = max(head.get("last_response_at") or T0, response["recorded_at"])
    empty_tip = {"budget_job_seq": None, "budget_value": None, "budget_recorded_at": None}
    rows["job_heads"] = [{**empty_tip, "last_response_at": None, **h} for h in heads.values()]
    return rows


def rows_at_0004() -> Rows:
    """0003's rows plus API keys (hashes only): one in use, one revoked and never used."""
    rows = rows_at_0003()
    rows["api_keys"] = [
        {
            "id": "5c0d4e0f6a7b4c1e9d2f3a4b5c6d7e8f",
            "name": "orchestrator",
            "scope": "write",
            "key_hash": "c" * 64,
            "prefix": "eb_AbCdE",
            "created_at": at(1000),
            "revoked_at": None,
            "last_used_at": at(1100),
        },
        {
            "id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
            "name": "dashboard-ü",
            "scope": "read",
            "key_hash": "d" * 64,
            "prefix": "eb_ZyXwV",
            "created_at": at(1001),
            "revoked_at": at(2000),
            "last_used_at": None,
        },
    ]
    return rows


def rows_at_0005() -> Rows:
    """0004's rows with each head's policy version, and the head (a lock row: no budget, no
    response) of the job that has a policy and no records."""
    rows = rows_at_0004()
    versions = {policy["job_hash"]: policy["version"] for policy in rows["job_policies"]}
    heads = {head["job_hash"]: head | {"policy_version": None} for head in rows["job_heads"]}
    empty = {
        "budget_job_seq": None,
        "budget_value": None,
        "budget_recorded_at": None,
        "last_response_at": None,
    }
    for job_hash, version in versions.items():
        heads.setdefault(job_hash, {"job_hash": job_hash, **empty})["policy_version"] = version
    rows["job_heads"] = list(heads.values())
    return rows


def rows_at_0008() -> Rows:
    """0005's rows with each pattern's count of status changes, plus webhooks: an endpoint in
    a secret rotation's overlap and one disabled by a 410; messages fanned out and not (a ping
    among them, bodies with non-ASCII text); deliveries delivered, failed, pending and leased."""
    rows = rows_at_0005()
    sequences = {"p-mixed": 2, "p-unknown": 3_000_000_000, "p-success": 0, "p-unused": 1}
    for pattern in rows["patterns"]:
        pattern["status_sequence"] = sequences[pattern["id"]]
    endpoint = {
        "description": None,
        "events": ["entropy_response.triggered", "pattern.status_changed"],
        "enabled": True,
        "disabled_reason": None,
        "previous_secret": None,
        "previous_secret_expires_at": None,
        "after_message_seq": 0,
    }
    rows["webhook_endpoints"] = [
        endpoint
        | {
            "seq": 1,
            "id": "7b0c2a3e-0d1f-4f8e-9a6b-5c4d3e2f1a0b",
            "url": "https://hooks.example.com/entropy-budget?token=abc",
            "description": "Revalidation queue ✓",
            "secret": "whsec_" + "A" * 43 + "=",
            "previous_secret": "whsec_" + "B" * 43 + "=",
            "previous_secret_expires_at": at(86_400 + 0.5),
            "created_at": at(1200),
            "updated_at": at(1300.000001),
        },
        endpoint
        | {
            "seq": 2,
            "id": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
            "url": "https://gone.example.com/",
            "events": ["pattern.status_changed"],
            "enabled": False,
            "disabled_reason": "The endpoint answered 410 Gone at 2026-03-01T12:30:00+00:00",
            "secret": "whsec_" + "C" * 43 + "=",
            "after_message_seq": 1,
            "created_at": at(1250),
            "updated_at": at(1800),
        },
    ]
    body = (
        '{"type":"pattern.status_changed","timestamp":"2026-03-01T12:08:20Z","data":'
        '{"pattern_id":"p-unknown","old_status":"quarantined","new_status":"pending",'
        '"cause":"response","response_id":"response-1","sequence":3000000000}}'
    )
    rows["webhook_messages"] = [
        {
            "seq": 1,
            "id": "msg_00000000000000000000000000000001",
            "event_type": "entropy_response.triggered",
            "occurred_at": at(500),
            "body": '{"type":"entropy_response.triggered","data":{"note":"réponse ✓"}}',
            "fanned_out": True,
        },
        {
            "seq": 2,
            "id": "msg_00000000000000000000000000000002",
            "event_type": "pattern.status_changed",
            "occurred_at": at(500),
            "body": body,
            "fanned_out": True,
        },
        {
            "seq": 3,
            "id": "msg_00000000000000000000000000000003",
            "event_type": "ping",
            "occurred_at": at(1400),
            "body": '{"type":"ping","timestamp":"2026-03-01T12:23:20Z","data":{}}',
            "fanned_out": True,
        },
        {
            "seq": 4,
            "id": "msg_00000000000000000000000000000004",
            "event_type": "pattern.status_changed",
            "occurred_at": at(1900),
            "body": body,
            "fanned_out": False,
        },
    ]
    never_attempted = {
        "attempts": 0,
        "failures": 0,
        "last_attempt_at": None,
        "last_status_code": None,
        "last_error": None,
        "lease_until": None,
        "lease_token": None,
    }
    rows["webhook_deliveries"] = [
        never_attempted
        | {
            "seq": 1,
            "endpoint_seq": 1,
            "message_seq": 1,
            "message_id": "msg_00000000000000000000000000000001",
            "event_type": "entropy_response.triggered",
            "status": "delivered",
            "attempts": 2,
            "failures": 1,
            "created_at": at(501),
            "next_attempt_at": None,
            "last_attempt_at": at(507),
            "last_status_code": 204,
        },
        never_attempted
        | {
            "seq": 2,
            "endpoint_seq": 1,
            "message_seq": 2,
            "message_id": "msg_00000000000000000000000000000002",
            "event_type": "pattern.status_changed",
            "status": "pending",
            "attempts": 3,
            "failures": 2,
            "created_at": at(501),
            "next_attempt_at": at(2400),
            "last_attempt_at": at(2300),
            "last_error": "no answer within 15 s",
            "lease_until": at(2360),
            "lease_token": "0123456789abcdef0123456789abcdef",
        },
        never_attempted
        | {
            "seq": 3,
            "endpoint_seq": 2,
            "message_seq": 2,
            "message_id": "msg_00000000000000000000000000000002",
            "event_type": "pattern.status_changed",
            "status": "failed",
            "attempts": 1,
            "failures": 1,
            "created_at": at(501),
            "next_attempt_at": None,
            "last_attempt_at": at(1800),
            "last_status_code": 410,
        },
        never_attempted
        | {
            "seq": 4,
            "endpoint_seq": 1,
            "message_seq": 3,
            "message_id": "msg_00000000000000000000000000000003",
            "event_type": "ping",
            "status": "pending",
            "created_at": at(1400),
            "next_attempt_at": at(1400),
        },
    ]
    return rows


def rows_at_0009() -> Rows:
    """0008's rows with each head's statistics as the app keeps them: the job's budget count,
    compensated sum, extremes and counts by type, and its responses' count, compensated sum
    of entropy at trigger, boosts and revisits (zeros, and no extremes, where there are none)."""
    rows = rows_at_0008()
    for head in rows["job_heads"]:
        budgets = [r for r in rows["exploration_budget"] if r["job_hash"] == head["job_hash"]]
        values = [r["budget_value"] for r in budgets]
        kinds = [r["adjustment_type"] for r in budgets]
        responses = [r for r in rows["entropy_responses"] if r["job_hash"] == head["job_hash"]]
        entropy = [r["entropy_at_trigger"] for r in responses]
        head |= {
            "budget_count": len(values),
            "budget_sum": math.fsum(values),
            "budget_sum_compensation": math.fsum([*values, -math.fsum(values)]),
            "budget_min": min(values, default=None),
            "budget_max": max(values, default=None),
            "budget_initial_count": kinds.count("initial"),
            "budget_decay_count": kinds.count("decay"),
            "budget_boost_count": kinds.count("boost"),
            "budget_floor_count": kinds.count("floor_enforced"),
            "budget_ceiling_count": kinds.count("ceiling_enforced"),
            "response_count": len(responses),
            "response_entropy_sum": math.fsum(entropy),
            "response_entropy_compensation": math.fsum([*entropy, -math.fsum(entropy)]),
            "response_boosts": sum(1 for r in responses if r["budget_boosted"]),
            "response_revisits": sum(r["quarantine_revisits"] for r in responses),
        }
    return rows


def rows_at_0010() -> Rows:
    """0009's rows: 0010 only indexes pattern applications by time."""
    return rows_at_0009()


def rows_at_0011() -> Rows:
    """0010's rows with the diversity scopes as the app keeps them: per-job counts of the
    applications, one registered half-life with its weights (global and per job; a weight far
    above 1 after a rescale-free run, one far below), snapshots of a job scope and of a
    half-life beside the global ones, a policy measuring its job with a half-life."""
    rows = rows_at_0010()
    counts: dict[tuple[str, str], int] = {}
    for application in rows["pattern_applications"]:
        if application["job_hash"] is not None:
            key = (application["job_hash"], application["pattern_id"])
            counts[key] = counts.get(key, 0) + 1
    rows["job_pattern_counts"] = [
        {"job_hash": job_hash, "pattern_id": pattern_id, "application_count": count}
        for (job_hash, pattern_id), count in sorted(counts.items())
    ]
    rows["diversity_half_lives"] = [{"half_life_seconds": 300, "registered_at": at(50)}]
    landmark_us = 1_772_366_400_000_123  # 2026-03-01T12:00:00.000123Z
    rows["diversity_weights"] = [
        {
            "job_hash": job_key,
            "pattern_id": pattern_id,
            "half_life_seconds": 300,
            "landmark_us": landmark_us + 60_000_000 * index,
            "weight": weight,
        }
        for index, (job_key, pattern_id, weight) in enumerate(
            [
                ("", "p-mixed", 1.0000000000000002),
                ("", "p-success", 3.2e150),
                ("", "p-unknown", 1.5),
                ("job-a", "p-mixed", 2.0),
                ("job-a", "p-unknown", 1.0),
                ("job-b", "p-mixed", 1.0 + 2**-40),
                ("job-b", "p-success", 1.0),
                ("job-b", "p-unknown", 1.0),
            ]
        )
    ]
    for snapshot in rows["pattern_entropy_history"]:
        snapshot |= {
            "job_hash": None,
            "half_life_seconds": None,
            "weighted_applications": float(snapshot["total_applications"]),
        }
    rows["pattern_entropy_history"] += [
        rows["pattern_entropy_history"][0]
        | {
            "id": "snapshot-job-a",
            "calculated_at": at(800),
            "job_hash": "job-a",
            "half_life_seconds": 300,
            "total_applications": 3,
            "weighted_applications": 0.123456789012345,
        },
        rows["pattern_entropy_history"][1]
        | {"id": "snapshot-global-decayed", "calculated_at": at(900), "half_life_seconds": 3600},
    ]
    for policy in rows["job_policies"]:
        policy |= {"diversity_scope": "global", "diversity_half_life_seconds": None}
    rows["job_policies"][0] |= {"diversity_scope": "job", "diversity_half_life_seconds": 300}
    return rows


def rows_at_0012() -> Rows:
    """0011's rows: 0012 only indexes webhook messages by time and deliveries by message."""
    return rows_at_0011()


ROWS_AT: dict[str, Callable[[], Rows]] = {
    "0001": rows_at_0001,
    "0002": rows_at_0002,
    "0003": rows_at_0003,
    "0004": rows_at_0004,
    "0005": rows_at_0005,
    "0008": rows_at_0008,
    "0009": rows_at_0009,
    "0010": rows_at_0010,
    "0011": rows_at_0011,
    "0012": rows_at_0012,
}
"""Rows valid at each revision, by revision id; every revision of the chain has one."""
