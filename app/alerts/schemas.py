"""The alert rules' verdicts, as the dashboard and the CLI show them."""

from typing import Literal

from pydantic import BaseModel, ConfigDict

AlertRule = Literal["budget_at_floor", "boosts_outpace_decays", "dominant_pattern"]


class AlertState(BaseModel):
    rule: AlertRule
    firing: bool
    value: float
    limit: float
    message: str


class AlertReport(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "job_hash": "job-42",
                    "firing": 1,
                    "alerts": [
                        {
                            "rule": "budget_at_floor",
                            "firing": True,
                            "value": 0.4,
                            "limit": 0.3,
                            "message": "40% of adjustments hit the floor (alert above 30%)",
                        },
                        {
                            "rule": "boosts_outpace_decays",
                            "firing": False,
                            "value": 1.0,
                            "limit": 2.0,
                            "message": "2 boosts against 2 decays (alert above 2x)",
                        },
                        {
                            "rule": "dominant_pattern",
                            "firing": False,
                            "value": 0.4,
                            "limit": 0.5,
                            "message": "the most applied pattern holds 40% of applications "
                            "(alert above 50%)",
                        },
                    ],
                }
            ]
        }
    )

    job_hash: str | None
    firing: int
    alerts: list[AlertState]
