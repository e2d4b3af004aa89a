"""Take screenshots of the chair board and a live infusion, for the docs and issue notes.

Runs against a served demo (`ketaflow demo` or `ketaflow serve`) and CHARTS ON IT: it
checks in today's first booked patient at the clinic, seats them, orders the dose,
starts the pump and charts a few vital signs, then photographs the board and the
session page with Debian's chromium driven by Playwright. Use it on demo data only.

    .venv/bin/python scripts/screenshots.py [--url http://127.0.0.1:8000] [--clinic aus] [--out docs/img]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

PASSWORD = "ketaflow-demo"
CHROMIUM = "/usr/bin/chromium"


def signed_in(base: str, email: str) -> tuple[httpx.Client, dict[str, str]]:
    client = httpx.Client(base_url=base, follow_redirects=False, timeout=30)
    client.post("/login", data={"email": email, "password": PASSWORD})
    return client, {"X-CSRF-Token": client.get("/api/me").json()["csrf_token"]}


def chart_one_infusion(base: str, clinic: str) -> str:
    desk, desk_csrf = signed_in(base, f"frontdesk1.{clinic}@demo.ketaflow.org")
    board = desk.get(f"/api/clinics/{clinic}/board").json()
    slot = next(c["now"] for c in board["chairs"] if c["now"] and c["now"]["state"] == "booked")
    appt = slot["appointment_id"]
    desk.post(
        f"/api/appointments/{appt}/check-in",
        json={
            "version": slot["version"],
            "driver": slot["driver"] + ", 555-0142" if slot["driver"] else "",
            "transport": "" if slot["driver"] else "rideshare booked by clinic",
        },
        headers=desk_csrf,
    ).raise_for_status()
    nurse, nurse_csrf = signed_in(base, f"nurse1.{clinic}@demo.ketaflow.org")
    session = nurse.post(f"/api/appointments/{appt}/open", headers=nurse_csrf).json()["session_id"]
    psych, psych_csrf = signed_in(base, f"psychiatrist1.{clinic}@demo.ketaflow.org")
    psych.post(
        f"/api/sessions/{session}/order", json={"protocol": "depression-induction"}, headers=psych_csrf
    ).raise_for_status()
    api = f"/api/sessions/{session}"
    nurse.post(
        f"{api}/vitals",
        json={"bp": "126/80", "heart_rate": 74, "spo2": 98, "respiratory_rate": 14},
        headers=nurse_csrf,
    ).raise_for_status()
    nurse.post(f"{api}/pump", json={"kind": "start"}, headers=nurse_csrf).raise_for_status()
    time.sleep(2)
    nurse.post(
        f"{api}/vitals",
        json={"bp": "148/92", "heart_rate": 84, "spo2": 97, "respiratory_rate": 15},
        headers=nurse_csrf,
    ).raise_for_status()
    return session


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--clinic", default="aus")
    parser.add_argument("--out", default="docs/img")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    session = chart_one_infusion(args.url, args.clinic)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{args.url}/login")
        page.fill("input[name=email]", f"nurse1.{args.clinic}@demo.ketaflow.org")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.goto(f"{args.url}/clinics/{args.clinic}/board")
        page.screenshot(path=str(out / "chair-board.png"), full_page=True)
        page.goto(f"{args.url}/sessions/{session}")
        page.wait_for_function("document.getElementById('levels-summary').textContent.startsWith('Now:')")
        page.screenshot(path=str(out / "infusion-session.png"), full_page=True)
        browser.close()
    print(f"wrote {out / 'chair-board.png'} and {out / 'infusion-session.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
