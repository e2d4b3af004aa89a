"""Sign-in under attack (issue 11): an atomic, fair throttle; answers that do not tell accounts
apart; audited sign-in events; sessions that end when they should.

Password checks are counted by instrumenting argon2's verifier (every check goes through
`PasswordHasher.verify`), not by timing: an unknown address must cost one check of the same
kind as a wrong password.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from argon2 import PasswordHasher, extract_parameters
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from ketaflow.errors import Forbidden, InvalidInput, KetaflowError
from ketaflow.security import hash_password
from ketaflow.services import auth
from ketaflow.services.operators import acting_staff
from ketaflow.store import models as m
from ketaflow.vocabulary import Role
from ketaflow.web.app import create_app
from tests.factories import make_clinic, make_staff
from tests.integration.races import race
from tests.integration.web.sign_in_support import login_token, post_login

PASSWORD = "a long passphrase nobody guesses"
_hosts = itertools.count(1)
MISMATCH = "That email address and password do not match; check them and try again."


def fresh_address() -> str:
    """An address no other test has used: every test starts with untouched address budgets."""
    n = next(_hosts)
    return f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"


@pytest.fixture(autouse=True)
def addresses() -> None:
    global ATTACKER, NURSE_DESK, SPRAYER
    ATTACKER, NURSE_DESK, SPRAYER = fresh_address(), fresh_address(), fresh_address()


@pytest.fixture(scope="module")
def password_hash() -> str:
    return hash_password(PASSWORD)


@dataclass
class Checks:
    """Every argon2 verification made while the fixture is active, with the hash it used."""

    hashes: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def count(self) -> int:
        return len(self.hashes)


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[Checks]:
    seen = Checks()
    real = PasswordHasher.verify

    def counting(self: PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
        with seen.lock:
            seen.hashes.append(hash if isinstance(hash, str) else hash.decode())
        return real(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    yield seen


def new_user(engine: Engine, password_hash: str, role: Role = Role.NURSE) -> m.StaffUser:
    with Session(engine, expire_on_commit=False) as db:
        user = make_staff(db, make_clinic(db), role)
        user.password_hash = password_hash
        db.commit()
        return user


def attempt(engine: Engine, email: str, password: str, ip: str, agent: str = "pytest") -> str:
    """One sign-in through the service: "ok", "mismatch" or "refused" (throttled or locked)."""
    with Session(engine, expire_on_commit=False) as db:
        try:
            auth.sign_in(db, email, password, ip_address=ip, user_agent=agent)
        except InvalidInput as exc:
            assert exc.message == MISMATCH
            return "mismatch"
        except Forbidden:
            return "refused"
    return "ok"


def audit_rows(engine: Engine, email: str) -> list[m.AuditEvent]:
    with Session(engine) as db:
        return list(
            db.scalars(
                select(m.AuditEvent)
                .where(m.AuditEvent.actor_label == email, m.AuditEvent.action.like("auth.%"))
                .order_by(m.AuditEvent.occurred_at)
            )
        )


# ---- 1. throttling that is atomic and fair ----------------------------------------------------


def test_a_parallel_burst_of_forty_wrong_passwords_checks_at_most_ten(
    engine: Engine, password_hash: str, checks: Checks
) -> None:
    user = new_user(engine, password_hash)
    outcomes: list[str] = []

    def guess(i: int) -> None:
        outcomes.append(attempt(engine, user.email, f"guess {i}", ATTACKER))

    race(engine, None, *(lambda i=i: guess(i) for i in range(40)))
    assert len(outcomes) == 40
    assert checks.count <= 10, f"{checks.count} passwords were checked"
    assert outcomes.count("mismatch") == checks.count
    assert outcomes.count("refused") == 40 - checks.count
    # The real user, at the nurses' desk, signs in at once.
    assert attempt(engine, user.email, PASSWORD, NURSE_DESK) == "ok"


def test_a_smaller_burst_checks_exactly_the_budget(engine: Engine, password_hash: str) -> None:
    user = new_user(engine, password_hash)
    outcomes: list[str] = []

    def guess() -> None:
        outcomes.append(attempt(engine, user.email, "wrong", ATTACKER))

    race(engine, None, *(guess for _ in range(15)))
    assert outcomes.count("mismatch") == auth.SignInLimits.from_settings().pair_failures
    assert outcomes.count("refused") == 15 - outcomes.count("mismatch")


def test_an_attacker_cannot_lock_the_real_user_out_from_another_address(
    engine: Engine, password_hash: str
) -> None:
    user = new_user(engine, password_hash)
    results = [attempt(engine, user.email, "wrong", ATTACKER) for _ in range(14)]
    assert results.count("refused") >= 4  # the attacker is slowed down ...
    assert attempt(engine, user.email, PASSWORD, ATTACKER) == "refused"  # ... even with the password
    assert attempt(engine, user.email, PASSWORD, NURSE_DESK) == "ok"  # but the nurse is not


def test_spraying_many_accounts_from_one_address_is_slowed(engine: Engine, password_hash: str) -> None:
    users = [new_user(engine, password_hash) for _ in range(15)]
    results = [attempt(engine, u.email, f"Spring2026!{i}", SPRAYER) for u in users for i in range(4)]
    ceiling = auth.SignInLimits.from_settings().address_failures
    assert results.count("mismatch") == ceiling < 60
    assert results[ceiling:] == ["refused"] * (60 - ceiling)
    # The accounts themselves are fine from anywhere else.
    assert attempt(engine, users[0].email, PASSWORD, NURSE_DESK) == "ok"


def test_a_success_clears_that_address_budget_for_that_account(engine: Engine, password_hash: str) -> None:
    user = new_user(engine, password_hash)
    limits = auth.SignInLimits.from_settings()
    for _ in range(limits.pair_failures - 1):
        assert attempt(engine, user.email, "typo", NURSE_DESK) == "mismatch"
    assert attempt(engine, user.email, PASSWORD, NURSE_DESK) == "ok"
    assert [attempt(engine, user.email, "typo", NURSE_DESK) for _ in range(2)] == ["mismatch"] * 2


def test_consecutive_failures_lock_the_account_until_an_administrator_unlocks_it(
    engine: Engine, password_hash: str
) -> None:
    """NIST SP 800-63B §5.2.2: at most 100 consecutive failures; here the ceiling is lowered."""
    assert auth.SignInLimits.from_settings().account_failures == 100
    limits = auth.SignInLimits(
        pair_failures=3,
        pair_window=timedelta(minutes=15),
        address_failures=30,
        address_window=timedelta(minutes=15),
        account_failures=7,
    )
    user = new_user(engine, password_hash)
    admin = new_user(engine, password_hash, Role.ADMIN)
    outcomes = []
    for n in range(12):
        with Session(engine) as db:
            try:
                auth.sign_in(
                    db, user.email, "wrong", ip_address=f"192.0.2.{n}", user_agent="x", limits=limits
                )
                outcomes.append("ok")
            except InvalidInput:
                outcomes.append("mismatch")
            except auth.AccountLocked as exc:
                outcomes.append("locked")
                assert "administrator" in exc.message
    assert outcomes == ["mismatch"] * 7 + ["locked"] * 5
    with Session(engine) as db, pytest.raises(auth.AccountLocked):
        auth.sign_in(db, user.email, PASSWORD, ip_address=NURSE_DESK, user_agent="x", limits=limits)
    with Session(engine) as db:
        nurse = acting_staff(db, user.email)
        with pytest.raises(Forbidden, match="administrator"):
            auth.unlock(db, nurse, user.email)
        assert auth.unlock(db, acting_staff(db, admin.email), user.email) is True
    with Session(engine) as db:
        auth.sign_in(db, user.email, PASSWORD, ip_address=NURSE_DESK, user_agent="x", limits=limits)
    actions = [e.action for e in audit_rows(engine, user.email)]
    assert "auth.sign_in_locked" in actions and actions[-1] == "auth.sign_in"
    unlocked = audit_rows(engine, admin.email)
    assert [e.action for e in unlocked] == ["auth.unlock"] and unlocked[0].entity_id == user.id


# ---- 2. answers that do not tell accounts apart ------------------------------------------------


def test_an_unknown_address_costs_one_check_of_the_same_kind_and_the_same_answer(
    engine: Engine, password_hash: str, checks: Checks
) -> None:
    user = new_user(engine, password_hash)
    inactive = new_user(engine, password_hash)
    with Session(engine) as db:
        db.execute(update(m.StaffUser).where(m.StaffUser.id == inactive.id).values(active=False))
        db.commit()
    for email in (user.email, f"nobody-{uuid.uuid4().hex[:6]}@test.example", inactive.email):
        before = checks.count
        assert attempt(engine, email, "wrong", NURSE_DESK) == "mismatch", email
        assert checks.count == before + 1, email
        assert extract_parameters(checks.hashes[-1]) == extract_parameters(password_hash), email
    # The inactive user's right password gets the same answer as a wrong one.
    assert attempt(engine, inactive.email, PASSWORD, NURSE_DESK) == "mismatch"


# ---- 3. sign-in events audited with address and user agent ---------------------------------------


def test_every_sign_in_outcome_is_audited_with_address_and_user_agent(
    engine: Engine, password_hash: str
) -> None:
    user = new_user(engine, password_hash)
    limits = auth.SignInLimits.from_settings()
    attempt(engine, user.email, PASSWORD, NURSE_DESK, agent="Firefox at the desk")
    for _ in range(limits.pair_failures + 1):
        attempt(engine, user.email, "wrong", ATTACKER, agent="curl/8")
    events = audit_rows(engine, user.email)
    by_action = {e.action: e for e in events}
    assert set(by_action) == {"auth.sign_in", "auth.sign_in_failed", "auth.sign_in_throttled"}
    assert (by_action["auth.sign_in"].ip_address, by_action["auth.sign_in"].user_agent) == (
        NURSE_DESK,
        "Firefox at the desk",
    )
    for action in ("auth.sign_in_failed", "auth.sign_in_throttled"):
        assert (by_action[action].ip_address, by_action[action].user_agent) == (ATTACKER, "curl/8")
    assert sum(e.action == "auth.sign_in_failed" for e in events) == limits.pair_failures


# ---- 4. sessions -------------------------------------------------------------------------------


def signed_in(engine: Engine, email: str, previous: str | None = None) -> str:
    with Session(engine, expire_on_commit=False) as db:
        return auth.sign_in(
            db, email, PASSWORD, ip_address=NURSE_DESK, user_agent="x", previous_token=previous
        ).token


def valid(engine: Engine, token: str) -> bool:
    with Session(engine) as db:
        return auth.current_user(db, token) is not None


def test_a_session_idle_for_thirty_minutes_ends(engine: Engine, password_hash: str) -> None:
    user = new_user(engine, password_hash)
    token, busy = signed_in(engine, user.email), signed_in(engine, user.email)
    start = m.utcnow()

    def valid_at(t: str, minutes: float) -> bool:
        with Session(engine) as db:
            return auth.current_user(db, t, now=start + timedelta(minutes=minutes)) is not None

    assert valid_at(busy, 20)  # used after 20 minutes: its idle clock starts again
    assert valid_at(busy, 45)
    assert not valid_at(token, 31)  # never used since signing in
    assert not valid_at(busy, 76)
    assert not valid_at(busy, 13 * 60)


def test_a_deactivated_then_reactivated_user_s_old_sessions_stay_ended(
    engine: Engine, password_hash: str
) -> None:
    user = new_user(engine, password_hash)
    old = signed_in(engine, user.email)
    with Session(engine) as db:
        staff = db.get_one(m.StaffUser, user.id)
        staff.active = False
        db.commit()
        staff.active = True
        db.commit()
    assert not valid(engine, old)
    assert valid(engine, signed_in(engine, user.email))


def test_a_password_change_ends_the_old_sessions(engine: Engine, password_hash: str) -> None:
    user = new_user(engine, password_hash)
    old = signed_in(engine, user.email)
    with Session(engine) as db:
        db.get_one(m.StaffUser, user.id).password_hash = hash_password(PASSWORD)
        db.commit()
    assert not valid(engine, old)


def test_end_all_sessions_ends_every_session_of_that_user_only(engine: Engine, password_hash: str) -> None:
    user, colleague = new_user(engine, password_hash), new_user(engine, password_hash)
    mine = [signed_in(engine, user.email) for _ in range(2)]
    theirs = signed_in(engine, colleague.email)
    with Session(engine) as db:
        assert auth.end_all_sessions(db, user.id) == 2
        db.commit()
    assert [valid(engine, t) for t in mine] == [False, False]
    assert valid(engine, theirs)
    assert valid(engine, signed_in(engine, user.email))  # signing in again works


def test_end_all_sessions_joins_the_caller_s_transaction(engine: Engine, password_hash: str) -> None:
    user = new_user(engine, password_hash)
    token = signed_in(engine, user.email)
    with Session(engine) as db:
        auth.end_all_sessions(db, user.id)
        db.rollback()  # the caller's change failed: nothing ended
    assert valid(engine, token)


def test_signing_in_again_ends_the_session_the_browser_had(engine: Engine, password_hash: str) -> None:
    user = new_user(engine, password_hash)
    first = signed_in(engine, user.email)
    second = signed_in(engine, user.email, previous=first)
    assert second != first
    assert not valid(engine, first) and valid(engine, second)
    with Session(engine) as db:
        open_sessions = db.scalar(
            select(func.count())
            .select_from(m.WebSession)
            .where(m.WebSession.user_id == user.id, m.WebSession.revoked_at.is_(None))
        )
    assert open_sessions == 1


def test_the_default_limits_and_their_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from ketaflow.settings import get_settings

    get_settings.cache_clear()
    try:
        limits = auth.SignInLimits.from_settings()
        assert (limits.pair_failures, limits.address_failures, limits.account_failures) == (10, 30, 100)
        assert limits.pair_window == limits.address_window == timedelta(minutes=15)
        assert get_settings().session_idle_minutes == 30 and get_settings().session_hours == 12
        monkeypatch.setenv("KETAFLOW_SIGN_IN_ACCOUNT_FAILURES", "101")
        get_settings.cache_clear()
        with pytest.raises(KetaflowError, match="100"):
            get_settings()
    finally:
        get_settings.cache_clear()


# ---- over HTTP: the sign-in form's CSRF token, the client address behind a proxy ------------------


def test_the_sign_in_form_needs_its_csrf_token(engine: Engine, password_hash: str) -> None:
    user = new_user(engine, password_hash)
    form = {"email": user.email, "password": PASSWORD}
    with TestClient(create_app(engine)) as client:
        bare = client.post("/login", data={"email": user.email, "password": PASSWORD}, follow_redirects=False)
        assert bare.status_code == 403 and "This form has expired; reload the page" in bare.text
        token = login_token(client)
        assert token
        cookie = next(c for c in client.cookies.jar if c.name == "ketaflow_login")
        assert cookie.value == token and cookie.has_nonstandard_attr("HttpOnly")
        forged = client.post(
            "/login",
            data={"email": user.email, "password": PASSWORD, "csrf": "forged"},
            follow_redirects=False,
        )
        assert forged.status_code == 403
        # A forger's page cannot read the cookie: a token of their own, with no cookie, fails too.
        client.cookies.clear()
        stale = client.post("/login", data={**form, "csrf": token}, follow_redirects=False)
        assert stale.status_code == 403
        ok = post_login(client, user.email, PASSWORD)
        assert ok.status_code == 303 and client.get("/api/me").status_code == 200
    with Session(engine) as db:  # refused forms check no password and count no failure
        assert not db.scalar(
            select(func.count())
            .select_from(m.SignInAttempt)
            .where(m.SignInAttempt.email == user.email.lower())
            .where(m.SignInAttempt.succeeded.is_(False))
        )


def test_over_https_the_sign_in_form_cookie_is_host_only(engine: Engine) -> None:
    with TestClient(create_app(engine), base_url="https://testserver") as client:
        page = client.get("/login")
        set_cookie = page.headers["set-cookie"]
        assert set_cookie.startswith("__Host-ketaflow_login=")
        assert "secure" in set_cookie.lower() and "samesite=strict" in set_cookie.lower()


def sign_in_address(engine: Engine, client: TestClient, email: str, headers: dict[str, str]) -> str | None:
    assert post_login(client, email, PASSWORD, headers=headers).status_code == 303
    with Session(engine) as db:
        return db.scalars(
            select(m.AuditEvent.ip_address)
            .where(m.AuditEvent.actor_label == email, m.AuditEvent.action == "auth.sign_in")
            .order_by(m.AuditEvent.occurred_at.desc())
        ).first()


def test_a_forwarded_address_is_believed_only_from_a_trusted_proxy(
    engine: Engine, password_hash: str
) -> None:
    user = new_user(engine, password_hash)
    spoof = {"X-Forwarded-For": "192.0.2.200"}
    app = create_app(engine, trusted_proxies=["10.250.0.0/16"])
    with TestClient(app, client=("198.51.100.9", 4000)) as direct:
        assert sign_in_address(engine, direct, user.email, spoof) == "198.51.100.9"
    with TestClient(app, client=("10.250.3.4", 4000)) as via_proxy:
        forwarded = {"X-Forwarded-For": "192.0.2.1, 192.0.2.77"}  # the client's own claim, then the proxy's
        assert sign_in_address(engine, via_proxy, user.email, forwarded) == "192.0.2.77"
    with TestClient(create_app(engine, trusted_proxies=[]), client=("127.0.0.1", 4000)) as local:
        assert sign_in_address(engine, local, user.email, spoof) == "127.0.0.1"


@pytest.mark.parametrize("given", ["*", "proxy.example.org", "10.0.0.0/33"])
def test_a_trusted_proxy_setting_that_is_not_an_address_is_refused(
    monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    from ketaflow.settings import get_settings

    monkeypatch.setenv("KETAFLOW_TRUSTED_PROXIES", f"127.0.0.1, {given}")
    get_settings.cache_clear()
    try:
        with pytest.raises(KetaflowError, match="KETAFLOW_TRUSTED_PROXIES must list"):
            get_settings()
        monkeypatch.setenv("KETAFLOW_TRUSTED_PROXIES", " 127.0.0.1 , 10.0.0.0/8,::1")
        get_settings.cache_clear()
        assert get_settings().trusted_proxies == ("127.0.0.1/32", "10.0.0.0/8", "::1/128")
    finally:
        get_settings.cache_clear()


# ---- the administrator's unlock at the command line -------------------------------------------------


def test_an_administrator_unlocks_an_account_at_the_command_line(engine: Engine, password_hash: str) -> None:
    from typer.testing import CliRunner

    from ketaflow.cli import app as cli
    from ketaflow.services.sign_in_throttle import ACCOUNT, throttle_id

    user = new_user(engine, password_hash)
    admin = new_user(engine, password_hash, Role.ADMIN)
    nurse = new_user(engine, password_hash)
    with Session(engine) as db:
        db.add(
            m.SignInThrottle(
                id=throttle_id(ACCOUNT, user.email.lower()),
                scope=ACCOUNT,
                key=user.email.lower(),
                failures=100,
                window_started_at=m.utcnow(),
                locked_at=m.utcnow(),
            )
        )
        db.commit()
    assert attempt(engine, user.email, PASSWORD, NURSE_DESK) == "refused"
    url = engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    refused = runner.invoke(cli, ["user", "unlock", user.email, "--as", nurse.email, "--database-url", url])
    assert refused.exit_code == 2 and "Only an administrator can unlock an account." in refused.output
    done = runner.invoke(cli, ["user", "unlock", user.email, "--as", admin.email, "--database-url", url])
    assert done.exit_code == 0, done.output
    assert f"Unlocked {user.email.lower()}" in done.output
    assert attempt(engine, user.email, PASSWORD, NURSE_DESK) == "ok"
    unknown = runner.invoke(
        cli, ["user", "unlock", "nobody@x.example", "--as", admin.email, "--database-url", url]
    )
    assert unknown.exit_code == 2 and "No staff member has the address" in unknown.output


def test_budget_rows_that_hold_nothing_are_removed_after_a_sign_in(
    engine: Engine, password_hash: str
) -> None:
    from ketaflow.services.sign_in_throttle import ACCOUNT, ADDRESS, throttle_id

    user = new_user(engine, password_hash)
    long_ago = m.utcnow() - timedelta(days=2)
    rows = {
        "stale address": (ADDRESS, f"stale-{uuid.uuid4().hex[:8]}", 5),
        "idle account": (ACCOUNT, f"idle-{uuid.uuid4().hex[:8]}@x.example", 0),
        "failing account": (ACCOUNT, f"failing-{uuid.uuid4().hex[:8]}@x.example", 40),
    }
    with Session(engine) as db:
        for scope, key, failures in rows.values():
            db.add(
                m.SignInThrottle(
                    id=throttle_id(scope, key),
                    scope=scope,
                    key=key,
                    failures=failures,
                    window_started_at=long_ago,
                )
            )
        db.commit()
    assert attempt(engine, user.email, PASSWORD, NURSE_DESK) == "ok"
    with Session(engine) as db:
        left = {
            name
            for name, (scope, key, _) in rows.items()
            if db.get(m.SignInThrottle, throttle_id(scope, key))
        }
    assert left == {"failing account"}  # its run of failures is kept until a success or an unlock
