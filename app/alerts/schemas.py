from typing import Literal

from pydantic import BaseModel

AlertRule = Literal["budget_at_floor", "boosts_outpace_decays", "dominant_pattern"]


class AlertState(BaseModel):
    rule: AlertRule
    firing: bool
    value: float
    limit: float
    message: str


class AlertReport(BaseModel):
    job_hash: str | None
    firing: int
    alerts: list[AlertState]
