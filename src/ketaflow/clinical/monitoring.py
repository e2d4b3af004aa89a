"""Periodic checks for patients on maintenance: where each stands (up to date, due, overdue).

The rules (`maintenance.toml`) say which checks there are, how often and with what grace; the
caller says when maintenance began and when each check was last done.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from ketaflow.clinical.levels import MonitoringStatus
from ketaflow.clinical.rules import ClinicalRules, default_rules


@dataclass(frozen=True)
class MonitoringItem:
    """One periodic check and where it stands today."""

    key: str
    label: str
    status: MonitoringStatus
    last_done: date | None
    due_on: date | None
    reason: str
    source: str
    interval_days: int
    interval_source: str


def maintenance_monitoring(
    *,
    maintenance_since: date | None,
    last_done: Mapping[str, date | None],
    today: date,
    rules: ClinicalRules | None = None,
) -> list[MonitoringItem]:
    """Every maintenance check with its status on ``today``.

    A check is not applicable before maintenance begins; never done, it is due from the first
    maintenance infusion; done, it is due ``interval_days`` later. It is overdue ``grace_days``
    after it fell due.
    """
    rules = rules or default_rules()
    items: list[MonitoringItem] = []
    for key, rule in rules.monitoring.items():
        done = last_done.get(key)
        if maintenance_since is None:
            status, due = MonitoringStatus.NOT_APPLICABLE, None
        else:
            due = maintenance_since if done is None else done + timedelta(days=rule.interval_days)
            if today < due:
                status = MonitoringStatus.UP_TO_DATE
            elif today <= due + timedelta(days=rule.grace_days):
                status = MonitoringStatus.DUE
            else:
                status = MonitoringStatus.OVERDUE
        items.append(
            MonitoringItem(
                key=key,
                label=rule.label,
                status=status,
                last_done=done,
                due_on=due,
                reason=rule.reason,
                source=rule.source,
                interval_days=rule.interval_days,
                interval_source=rule.interval_source,
            )
        )
    return items
