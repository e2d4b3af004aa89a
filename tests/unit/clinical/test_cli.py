"""The five clinical CLI commands: --json output as the issue specifies, and exit code 2 errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ketaflow.cli import app

runner = CliRunner()


def run_json(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def run_error(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return result.output


def test_it_computes_a_dose() -> None:
    data = run_json(
        "dose",
        "--protocol", "depression-induction",
        "--weight-kg", "82",
        "--height-cm", "178",
        "--dose-mg-per-kg", "0.5",
        "--minutes", "40",
        "--bag-mg", "100",
        "--bag-ml", "100",
    )  # fmt: skip
    assert data["dosing_weight_kg"] == 82
    assert data["dose_mg"] == 41
    assert data["rate_ml_per_h"] == 61.5
    assert data["volume_ml"] == 41
    assert data["status"] == "ok"
    assert data["messages"] == []


def test_it_reports_a_hard_limit() -> None:
    data = run_json(
        "dose", "--protocol", "depression-induction", "--weight-kg", "82",
        "--dose-mg-per-kg", "2", "--minutes", "2", "--bag-mg", "500", "--bag-ml", "50",
    )  # fmt: skip
    assert data["status"] == "hard_limit"
    assert any("ceiling" in m for m in data["messages"])


def test_it_prints_a_readable_dose() -> None:
    result = runner.invoke(
        app,
        [
            "dose",
            "--protocol",
            "depression-induction",
            "--weight-kg",
            "70",
            "--bag-mg",
            "100",
            "--bag-ml",
            "100",
        ],
    )
    assert result.exit_code == 0
    assert "Status: ok" in result.stdout
    assert "52.5 mL/h" in result.stdout


def test_it_screens() -> None:
    data = run_json(
        "screen",
        "--med", "Xanax 0.5 mg",
        "--med", "lamotrigine",
        "--condition", "uncontrolled hypertension",
        "--bp", "150/95",
    )  # fmt: skip
    assert data["level"] == "contraindicated"
    for finding in data["findings"]:
        assert set(finding) >= {"level", "item", "reason", "advice", "source"}
    assert {f["item"] for f in data["findings"]} == {
        "Xanax 0.5 mg",
        "lamotrigine",
        "uncontrolled hypertension",
        "150/95",
    }


@pytest.mark.parametrize(
    ("args", "total", "severity"),
    [
        (["phq9", "1", "2", "0", "3", "1", "0", "2", "1", "0"], 10, "moderate"),
        (["gad7", "3", "3", "3", "3", "3", "0", "0"], 15, "severe"),
        (["madrs", *["3"] * 10], 30, "moderate"),
        (["qids-sr16", *["1"] * 16], 9, "mild"),
        (["cadss", *["0"] * 23], 0, "not banded"),
        (["cssrs", "1", "1", "0", "0", "0", "0"], 1, "low risk"),
    ],
)
def test_it_scores(args: list[str], total: int, severity: str) -> None:
    data = run_json("score", *args)
    assert (data["total"], data["severity"]) == (total, severity)
    assert "alerts" in data


def test_it_shows_the_suicide_alert() -> None:
    data = run_json("score", "phq9", "0", "0", "0", "0", "0", "0", "0", "0", "1")
    assert data["alerts"][0]["kind"] == "suicide_risk"
    text = runner.invoke(app, ["score", "phq9", "0", "0", "0", "0", "0", "0", "0", "0", "1"]).stdout
    assert "ALERT" in text


def test_it_checks_vitals() -> None:
    data = run_json(
        "vitals-check", "--baseline", "128/82", "--bp", "186/112", "--hr", "96", "--spo2", "97", "--rr", "16"
    )
    # issue 13: one cuff value at the pause level asks for a recheck, as on the infusion page
    assert data["level"] == "watch" and data["recheck_in_minutes"] == 5
    assert data["actions"][0].startswith("Recheck the blood pressure")


def test_it_checks_discharge() -> None:
    data = run_json(
        "discharge-check",
        "--minutes-since-end", "45",
        "--bp", "132/84",
        "--hr", "80",
        "--spo2", "98",
        "--aldrete", "9",
        "--walks-with-help",
        "--nausea", "none",
        "--driver", "Dana Reyes, 555-0100",
        "--sedation", "5",
        "--mental-status", "baseline",
        "--suicidal-ideation", "none",
    )  # fmt: skip
    assert data["ready"] is False
    assert {u["criterion"] for u in data["unmet"]} == {"observation", "instructions"}
    assert data["aftercare"]


def test_it_checks_a_ready_discharge() -> None:
    data = run_json(
        "discharge-check", "--minutes-since-end", "130", "--bp", "132/84", "--hr", "80", "--spo2", "98",
        "--padss", "10", "--walks-with-help", "--driver", "Dana Reyes, 555-0100", "--instructions-given",
        "--sedation", "5", "--mental-status", "baseline", "--suicidal-ideation", "none",
    )  # fmt: skip
    assert data["ready"] is True
    assert data["unmet"] == []


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["score", "phq9", "1", "2", "0", "3", "1", "0", "2", "1"], "PHQ-9 needs 9 answers; got 8."),
        (["score", "gad7", "1", "2", "3", "4", "0", "0", "0"], "GAD-7 item 4 must be 0 to 3; got 4."),
        (["score", "phq9", "1", "x", "0", "3", "1", "0", "2", "1", "0"], "Answer 2 must be a whole number"),
        (["score", "phq9", "1", "-", "0", "3", "1", "0", "2", "1", "0"], "PHQ-9 item 2 is unanswered"),
        (["score", "hamd", "1"], "Unknown questionnaire 'hamd'"),
        (
            ["score", "phq9", "1", "2", "0", "3", "1", "0", "2", "1", "-1"],
            "PHQ-9 item 9 must be 0 to 3; got -1.",
        ),
        (
            [
                "dose",
                "--protocol",
                "depression-induction",
                "--weight-kg",
                "0",
                "--bag-mg",
                "100",
                "--bag-ml",
                "100",
            ],
            "Weight must be a number above 0 kg; got 0.",
        ),
        (
            ["dose", "--protocol", "nope", "--weight-kg", "80", "--bag-mg", "100", "--bag-ml", "100"],
            "Unknown protocol 'nope'",
        ),
        (["vitals-check", "--bp", "abc"], "Blood pressure must be written systolic/diastolic"),
        (["vitals-check"], "Give at least one reading"),
        (["screen", "--bp", "150-95"], "Blood pressure must be written systolic/diastolic"),
        (
            ["discharge-check", "--minutes-since-end", "130", "--aldrete", "12"],
            "Aldrete score must be 0 to 10",
        ),
        (
            ["discharge-check", "--minutes-since-end", "130", "--mental-status", "foggy"],
            "Mental status must be baseline or altered; got 'foggy'.",
        ),
        (
            ["discharge-check", "--minutes-since-end", "130", "--suicidal-ideation", "maybe"],
            "Suicidal ideation must be none or present; got 'maybe'.",
        ),
        (["vitals-check", "--sedation", "6"], "Sedation (MOAA/S) must be a whole number from 0 to 5"),
        (
            ["vitals-check", "--bp", "186/112", "--symptom", "nausea"],
            "Symptom 'nausea' does not confirm a blood-pressure pause; give headache, blurred_vision "
            "or hypertension.",
        ),
        (
            ["vitals-check", "--bp", "186/112", "--previous-bp", "184/110"],
            "Give --previous-minutes-ago with --previous-bp",
        ),
        (
            ["vitals-check", "--bp", "186/112", "--previous-bp", "184/110", "--previous-minutes-ago", "-3"],
            "--previous-minutes-ago must be 0 or more minutes; got -3.",
        ),
        (["vitals-check", "--bp", "186/112", "--previous-minutes-ago", "5"], "Give --previous-bp with"),
    ],
)
def test_it_fails_with_one_plain_sentence(args: list[str], sentence: str) -> None:
    output = run_error(*args)
    assert sentence in output
    assert output.strip().startswith("Error:")
    assert len(output.strip().splitlines()) == 1


def test_it_applies_a_clinic_rules_file(tmp_path: Path) -> None:
    rules = tmp_path / "clinic.toml"
    rules.write_text(
        '[discharge.min_observation_minutes]\nvalue = 60\nsource = "Clinic policy 2026: 60 min"\n'
    )
    data = run_json(
        "discharge-check", "--minutes-since-end", "60", "--bp", "132/84", "--hr", "80", "--spo2", "98",
        "--aldrete", "9", "--walks-with-help", "--driver", "Dana Reyes, 555-0100", "--instructions-given",
        "--sedation", "5", "--mental-status", "baseline", "--suicidal-ideation", "none",
        "--clinic-rules", str(rules),
    )  # fmt: skip
    assert data["ready"] is True


def test_it_refuses_a_clinic_file_that_raises_the_ceiling(tmp_path: Path) -> None:
    rules = tmp_path / "clinic.toml"
    rules.write_text('[ceiling.dose_mg_per_kg]\nvalue = 4.5\nsource = "Clinic wish 2026: anaesthetic"\n')
    output = run_error(
        "dose", "--protocol", "depression-induction", "--weight-kg", "80", "--bag-mg", "100",
        "--bag-ml", "100", "--clinic-rules", str(rules),
    )  # fmt: skip
    assert "cannot raise the absolute ceiling" in output


def test_it_accepts_comma_separated_answers() -> None:
    data = run_json("score", "phq9", "1,2,0,3,1,0,2,1,0")
    assert data["total"] == 10


READY_ARGS = [
    "discharge-check", "--minutes-since-end", "130", "--bp", "132/84", "--hr", "80", "--spo2", "98",
    "--padss", "10", "--walks-with-help", "--driver", "Dana Reyes, 555-0100", "--instructions-given",
]  # fmt: skip


def test_discharge_check_lists_an_unasked_screen_and_mental_status_and_no_sedation_level() -> None:
    data = run_json(*READY_ARGS)
    assert data["ready"] is False
    assert [u["criterion"] for u in data["unmet"]] == ["sedation", "mental_status", "suicidal_ideation"]


def test_discharge_check_says_what_to_do_with_suicidal_ideation() -> None:
    args = [*READY_ARGS, "--sedation", "5", "--mental-status", "baseline", "--suicidal-ideation", "present"]
    data = run_json(*args)
    assert data["ready"] is False
    assert [u["message"] for u in data["unmet"]] == [
        "Suicidal ideation present at discharge: do not discharge; the psychiatrist must assess now."
    ]
    text = run(*args)
    assert "the psychiatrist must assess now" in text


def test_vitals_check_grades_sedation_and_flags_missing_spo2_during_the_infusion() -> None:
    deep = run_json("vitals-check", "--bp", "128/82", "--hr", "72", "--spo2", "97", "--sedation", "1")
    assert deep["level"] == "stop"
    assert any("airway" in a for a in deep["actions"])
    gap = run_json("vitals-check", "--bp", "128/82", "--hr", "72", "--sedation", "5", "--during-infusion")
    assert gap["level"] == "watch"
    assert [a["parameter"] for a in gap["alerts"]] == ["spo2_missing"]


def test_screen_takes_age_pregnancy_status_and_route() -> None:
    result = runner.invoke(
        app,
        ["screen", "--age", "17", "--pregnancy", "possible", "--route", "oral", "--med", "clarithromycin",
         "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    rules = {f["rule"]: f["level"] for f in data["findings"]}
    assert rules["age"] == "contraindicated"
    assert rules["pregnancy_status"] == "psychiatrist_review"
    assert rules["cyp_inhibitor"] == "caution"
    assert any(g["rule"] == "fasting" for g in data["guidance"])
    text = runner.invoke(app, ["screen", "--age", "40"]).stdout
    assert "Fasting" in text or "fasting" in text


def test_screen_refuses_an_unknown_pregnancy_status_in_one_sentence() -> None:
    result = runner.invoke(app, ["screen", "--pregnancy", "maybe"])
    assert result.exit_code == 2
    assert "pregnancy" in result.output.lower()


# ---- vitals-check applies the confirmed-pause rule (issue 13 leftover) -------------------------------


@pytest.mark.parametrize(
    ("extra", "level"),
    [
        ([], "watch"),  # one reading: recheck
        (["--previous-bp", "184/110", "--previous-minutes-ago", "6"], "pause"),  # confirmed by a repeat
        (["--previous-bp", "184/110", "--previous-minutes-ago", "20"], "watch"),  # outside the 15-min window
        (
            ["--previous-bp", "150/90", "--previous-minutes-ago", "6"],
            "watch",
        ),  # the repeat is not at the level
        (["--symptom", "headache"], "pause"),  # confirmed by a symptom
        (["--symptom", "blurred vision"], "pause"),
    ],
)
def test_vitals_check_confirms_a_blood_pressure_pause_as_the_infusion_page_does(
    extra: list[str], level: str
) -> None:
    from ketaflow.clinical import BloodPressure, EarlierReading, VitalSigns, assess_infusion_reading

    data = run_json("vitals-check", "--bp", "186/112", "--hr", "80", "--spo2", "98", *extra)
    assert data["level"] == level
    # The same function the infusion page and the board use gives the same answer.
    earlier = []
    if "--previous-bp" in extra:
        sys_, dia = extra[1].split("/")
        earlier = [EarlierReading(float(extra[3]), VitalSigns(bp=BloodPressure(int(sys_), int(dia))))]
    expected = assess_infusion_reading(
        VitalSigns(bp=BloodPressure(186, 112), heart_rate_per_min=80, spo2_percent=98),
        earlier=earlier,
        symptoms="--symptom" in extra,
        phase=None,
    )
    assert data["level"] == expected.level.value
    assert data["actions"] == list(expected.actions)


def test_vitals_check_never_holds_back_a_stop_level_reading() -> None:
    assert run_json("vitals-check", "--bp", "204/122")["level"] == "stop"


def test_vitals_check_prints_the_recheck_in_words() -> None:
    out = run("vitals-check", "--bp", "186/112")
    assert "Level: watch" in out and "Recheck the blood pressure in 5 minutes" in out
