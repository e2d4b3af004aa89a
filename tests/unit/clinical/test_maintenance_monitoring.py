"""Issue 13: periodic liver tests and bladder-symptom screening for maintenance patients."""

from __future__ import annotations

from datetime import date, timedelta

from ketaflow.clinical import MonitoringStatus, default_rules, maintenance_monitoring

START = date(2026, 3, 1)


def by_key(**kw: object) -> dict[str, object]:
    return {i.key: i for i in maintenance_monitoring(**kw)}  # type: ignore[arg-type]


def test_the_rules_carry_both_checks_with_their_sources() -> None:
    m = default_rules().monitoring
    assert "5.6" in m["liver_tests"].source and "Ketalar" in m["liver_tests"].source
    assert "5.9" in m["bladder_screen"].source and "SPRAVATO" in m["bladder_screen"].source
    assert "clinic policy" in m["liver_tests"].interval_source.lower()


def test_nothing_is_due_before_maintenance() -> None:
    items = maintenance_monitoring(maintenance_since=None, last_done={}, today=START)
    assert {i.status for i in items} == {MonitoringStatus.NOT_APPLICABLE}


def test_a_check_never_done_is_due_at_once_and_overdue_after_the_grace() -> None:
    rules = default_rules().monitoring["liver_tests"]
    soon = by_key(maintenance_since=START, last_done={}, today=START)
    assert soon["liver_tests"].status is MonitoringStatus.DUE  # type: ignore[attr-defined]
    later = START + timedelta(days=rules.grace_days + 1)
    assert by_key(maintenance_since=START, last_done={}, today=later)["liver_tests"].status is (  # type: ignore[attr-defined]
        MonitoringStatus.OVERDUE
    )


def test_a_recent_check_is_not_due_until_the_interval_has_passed() -> None:
    rules = default_rules().monitoring["bladder_screen"]
    done = START + timedelta(days=3)
    item = by_key(maintenance_since=START, last_done={"bladder_screen": done}, today=done + timedelta(days=1))
    assert item["bladder_screen"].status is MonitoringStatus.UP_TO_DATE  # type: ignore[attr-defined]
    assert item["bladder_screen"].due_on == done + timedelta(days=rules.interval_days)  # type: ignore[attr-defined]
    late = done + timedelta(days=rules.interval_days + rules.grace_days + 1)
    assert (
        by_key(maintenance_since=START, last_done={"bladder_screen": done}, today=late)[
            "bladder_screen"
        ].status
        is MonitoringStatus.OVERDUE
    )  # type: ignore[attr-defined]
