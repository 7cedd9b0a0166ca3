"""The alert rules' verdicts, as the dashboard and the CLI show them."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

AlertRule = Literal["budget_at_floor", "boosts_outpace_decays", "dominant_pattern"]


class AlertState(BaseModel):
    """One alert rule, evaluated now."""

    rule: AlertRule = Field(description="The rule.")
    firing: bool = Field(description="Whether it fires now.")
    value: float = Field(description="The value it measured.")
    limit: float = Field(description="The limit the value is compared with.")
    message: str = Field(description="What it found, in words.")


class AlertReport(BaseModel):
    """The alert rules evaluated now over a job (or every job)."""

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

    job_hash: str | None = Field(description="The job evaluated; null: every job.")
    firing: int = Field(description="How many rules fire.")
    alerts: list[AlertState] = Field(description="Every rule, firing or not.")
