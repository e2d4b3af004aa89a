"""Schema 0006 on a database that already has clinics: each gets the hours every clinic was assumed
to keep (Monday to Friday 08:00-18:30, clinic policy) and a 365-day booking horizon, so booking
and the director's page keep working; stepping back down keeps the clinics."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import Engine, text

from ketaflow.store.migrate import current_revision, downgrade, upgrade


def test_existing_clinics_get_the_default_hours_and_horizon(fresh_engine: Callable[[], Engine]) -> None:
    engine = fresh_engine()
    upgrade(engine, "0005")
    org, clinics = uuid.uuid4(), [uuid.uuid4(), uuid.uuid4()]
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO organizations (id, name, created_at) VALUES (:id, 'Net', CURRENT_TIMESTAMP)"),
            {"id": org.hex if engine.dialect.name == "sqlite" else org},
        )
        for k, cid in enumerate(clinics):
            conn.execute(
                text(
                    "INSERT INTO clinics (id, organization_id, code, name, address_line, city, region, "
                    "postal_code, country, timezone, created_at, version) VALUES (:id, :org, :code, :name, "
                    "'1 Main St', 'Austin', 'TX', '78701', 'US', 'America/Chicago', CURRENT_TIMESTAMP, 1)"
                ),
                {
                    "id": cid.hex if engine.dialect.name == "sqlite" else cid,
                    "org": org.hex if engine.dialect.name == "sqlite" else org,
                    "code": f"old{k}",
                    "name": f"Old Clinic {k}",
                },
            )
    upgrade(engine, "0006_clinic_hours")
    assert current_revision(engine) == "0006_clinic_hours"
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.code, h.weekday, h.opens_min, h.closes_min FROM clinic_hours h "
                "JOIN clinics c ON c.id = h.clinic_id ORDER BY c.code, h.weekday"
            )
        ).all()
        horizons = conn.execute(text("SELECT code, booking_horizon_days FROM clinics ORDER BY code")).all()
    assert [tuple(r) for r in rows] == [
        (code, weekday, 480, 1110) for code in ("old0", "old1") for weekday in range(5)
    ]  # 08:00-18:30, Monday (0) to Friday (4); nothing on Saturday or Sunday
    assert [tuple(h) for h in horizons] == [("old0", 365), ("old1", 365)]
    downgrade(engine, "0005")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM clinics")).scalar() == 2
        columns = conn.execute(text("SELECT * FROM clinics")).keys()
    assert "booking_horizon_days" not in columns
    upgrade(engine)  # and up again
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM clinic_hours")).scalar() == 10
