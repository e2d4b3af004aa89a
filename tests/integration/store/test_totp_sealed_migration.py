"""Schema 0014 on a database whose staff already use a second factor: each TOTP secret stored in the
clear is sealed under the server's key (and still gives the same codes); stepping back down opens
them again, and takes off any this server's key cannot open (that person sets it up again)."""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Callable, Iterator

import pyotp
import pytest
from sqlalchemy import Engine, text

from ketaflow.services import mfa
from ketaflow.settings import get_settings
from ketaflow.store.migrate import downgrade, upgrade

BEFORE = "0012_audit_shape"


def _key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    def use(value: str) -> None:
        monkeypatch.setenv("KETAFLOW_SECRET_KEY", value)
        get_settings.cache_clear()

    use(_key())
    yield use
    monkeypatch.delenv("KETAFLOW_SECRET_KEY")
    get_settings.cache_clear()


def _staff_with_secrets(engine: Engine, count: int) -> dict[uuid.UUID, str]:
    def key(value: uuid.UUID) -> object:
        return value.hex if engine.dialect.name == "sqlite" else value

    org, out = uuid.uuid4(), {}
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO organizations (id, name, created_at) VALUES (:id, 'Net', CURRENT_TIMESTAMP)"),
            {"id": key(org)},
        )
        for n in range(count):
            user, secret = uuid.uuid4(), pyotp.random_base32(length=32)
            conn.execute(
                text(
                    "INSERT INTO staff_users (id, organization_id, email, full_name, password_hash, active, "
                    "created_at, version, session_epoch, mfa_secret, mfa_enabled_at, mfa_last_step) VALUES "
                    "(:id, :org, :email, 'Staff Member', 'x', :yes, CURRENT_TIMESTAMP, 1, 0, :secret, "
                    "CURRENT_TIMESTAMP, 5)"
                ),
                {"id": key(user), "org": key(org), "email": f"s{n}@x.example", "secret": secret, "yes": True},
            )
            out[user] = secret
    return out


def _column(engine: Engine, name: str) -> dict[uuid.UUID, tuple[object, object]]:
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT id, {name}, mfa_enabled_at FROM staff_users")).all()
    return {uuid.UUID(str(r[0])): (r[1], r[2]) for r in rows}


def test_stored_secrets_are_sealed_and_opened_again_on_the_way_down(
    fresh_engine: Callable[[], Engine], key: Callable[[str], None]
) -> None:
    engine = fresh_engine()
    upgrade(engine, BEFORE)
    secrets_by_user = _staff_with_secrets(engine, 3)
    upgrade(engine, "0013_totp_sealed")
    sealed = _column(engine, "mfa_secret_sealed")
    assert set(sealed) == set(secrets_by_user)
    for user, (value, _) in sealed.items():
        assert isinstance(value, str) and value.startswith("k1.") and secrets_by_user[user] not in value
        opened = mfa.open_secret(user, value)
        assert opened == secrets_by_user[user]
        assert mfa.code_at(opened, 1_700_000_000) == pyotp.TOTP(secrets_by_user[user]).at(1_700_000_000)
    downgrade(engine, BEFORE)
    assert {u: v for u, (v, _) in _column(engine, "mfa_secret").items()} == secrets_by_user
    upgrade(engine)


def test_stepping_down_without_the_key_takes_the_unreadable_factor_off(
    fresh_engine: Callable[[], Engine], key: Callable[[str], None]
) -> None:
    engine = fresh_engine()
    upgrade(engine, BEFORE)
    _staff_with_secrets(engine, 2)
    upgrade(engine, "0013_totp_sealed")
    key(_key())  # the key is lost
    downgrade(engine, BEFORE)
    assert all(v == (None, None) for v in _column(engine, "mfa_secret").values())
