"""The infusion page as a nurse sees it: a monitor's reading is marked "monitor" and carries a form
to mark it as artefact with the reason (no reason: the page again, 400, with the sentence)."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ketaflow.security import hash_password
from ketaflow.services.monitor_feed import receive
from ketaflow.store import models as m
from ketaflow.web.app import create_app
from tests.hl7_messages import obs, oru, ts
from tests.integration.hl7.conftest import START, Chairside
from tests.integration.web.sign_in_support import post_login

PASSWORD = "a long test passphrase 4 hl7"
CSRF = re.compile(r'name="csrf" value="([^"]*)"')


def test_a_nurse_marks_a_monitor_reading_as_artefact_on_the_page(chairside: Chairside) -> None:
    at = START + timedelta(minutes=7)
    text = oru([obs("spo2", 79, ts(at)), obs("heart_rate", 128, ts(at))], device=chairside.device)
    with Session(chairside.engine) as db:
        assert receive(db, text, peer="t", now=at + timedelta(seconds=2)).ack_code == "AA"
        nurse = db.get(m.StaffUser, chairside.nurse_id)
        assert nurse is not None
        nurse.password_hash = hash_password(PASSWORD)
        email = nurse.email
        db.commit()
    (reading,) = chairside.vitals()
    with TestClient(create_app(chairside.engine)) as client:
        assert post_login(client, email, PASSWORD).status_code == 303
        page = client.get(f"/sessions/{chairside.session_id}")
        assert page.status_code == 200
        assert '<small class="source">monitor</small>' in page.text
        action = f"/sessions/{chairside.session_id}/vitals/{reading.id}/artefact"
        assert f'action="{action}"' in page.text
        csrf = CSRF.findall(page.text)[-1]
        refused = client.post(action, data={"csrf": csrf, "reason": ""}, follow_redirects=False)
        assert refused.status_code == 400 and "Write the reason" in refused.text
        done = client.post(action, data={"csrf": csrf, "reason": "probe off"}, follow_redirects=False)
        assert done.status_code == 303, done.text[:500]
        after = client.get(f"/sessions/{chairside.session_id}")
        assert f'action="{action}"' not in after.text
    rows = chairside.vitals()
    assert len(rows) == 2 and any(r.artefact and r.amendment_reason == "probe off" for r in rows)
