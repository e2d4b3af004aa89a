"""SMART Backend Services: a registered client gets a token with a JWT it signs (RS384 or ES384,
with a key the test makes) and runs a bulk export end to end; every bad assertion is refused."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ketaflow.services.smart_auth import register_client
from ketaflow.store import models as m
from ketaflow.web.app import create_app
from ketaflow.web.deps import clock

NOW = datetime(2027, 3, 7, 17, 0, tzinfo=UTC)  # a day no other test uses
TOKEN_URL = "http://testserver/fhir/auth/token"
ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def number(n: int, size: int | None = None) -> str:
    return b64(n.to_bytes(size or (n.bit_length() + 7) // 8, "big"))


class Clock:
    now = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Client:
    client_id: str
    rsa_key: rsa.RSAPrivateKey
    ec_key: ec.EllipticCurvePrivateKey

    def assertion(self, *, alg: str = "RS384", **overrides: Any) -> str:
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": TOKEN_URL,
            "exp": int((Clock.now + timedelta(minutes=4)).timestamp()),
            "jti": str(uuid.uuid4()),
            **overrides,
        }
        header = {"alg": alg, "typ": "JWT", "kid": "ec1" if alg == "ES384" else "rsa1"}
        signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}".encode()
        if alg == "ES384":
            r, s = decode_dss_signature(self.ec_key.sign(signing_input, ec.ECDSA(hashes.SHA384())))
            signature = r.to_bytes(48, "big") + s.to_bytes(48, "big")
        else:
            signature = self.rsa_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA384())
        return f"{signing_input.decode()}.{b64(signature)}"


def token_form(assertion: str, scope: str = "system/*.rs") -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "scope": scope,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }


@pytest.fixture(scope="module")
def setup(
    demo_engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, Client]]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP384R1())
    rn, en = rsa_key.public_key().public_numbers(), ec_key.public_key().public_numbers()
    jwks = {
        "keys": [
            {"kty": "RSA", "kid": "rsa1", "alg": "RS384", "n": number(rn.n), "e": number(rn.e)},
            {
                "kty": "EC",
                "kid": "ec1",
                "alg": "ES384",
                "crv": "P-384",
                "x": number(en.x, 48),
                "y": number(en.y, 48),
            },
        ]
    }
    client_id = f"registry-{uuid.uuid4().hex[:8]}"
    with Session(demo_engine) as db:
        aus = db.scalar(select(m.Clinic).where(m.Clinic.code == "aus"))
        assert aus is not None
        register_client(
            db,
            client_id=client_id,
            name="State registry",
            jwks=jwks,
            scopes="system/*.rs",
            clinic_ids=[aus.id],
        )
        db.commit()
    app = create_app(demo_engine)
    app.dependency_overrides[clock] = Clock()
    app.state.data_dir = tmp_path_factory.mktemp("smart")
    with TestClient(app) as http:
        yield http, Client(client_id, rsa_key, ec_key)


def test_a_client_gets_a_token_and_runs_a_bulk_export(
    setup: tuple[TestClient, Client], demo_engine: Engine
) -> None:
    http, client = setup
    http.cookies.clear()
    config = http.get("/fhir/.well-known/smart-configuration").json()
    assert (
        config["token_endpoint"] == TOKEN_URL
        and "RS384" in config["token_endpoint_auth_signing_alg_values_supported"]
    )
    r = http.post("/fhir/auth/token", data=token_form(client.assertion()))
    assert r.status_code == 200, r.text
    issued = r.json()
    assert (
        issued["token_type"] == "bearer" and issued["scope"] == "system/*.rs" and issued["expires_in"] == 300
    )
    bearer = {"Authorization": f"Bearer {issued['access_token']}"}
    r = http.get("/fhir/$export?_type=Patient", headers={**ASYNC, **bearer})
    assert r.status_code == 202, r.text
    status_url = r.headers["content-location"]
    assert http.get(status_url).status_code == 401  # the token is needed to poll
    deadline = time.monotonic() + 120
    while (r := http.get(status_url, headers=bearer)).status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert r.status_code == 200, r.text
    [output] = r.json()["output"]
    lines = http.get(output["url"], headers=bearer).text.splitlines()
    with Session(demo_engine) as db:
        aus = db.scalar(select(m.Clinic).where(m.Clinic.code == "aus"))
        assert aus is not None
        ids = {str(i) for i in db.scalars(select(m.Patient.id).where(m.Patient.clinic_id == aus.id))}
        issued_audits = db.scalar(
            select(func.count())
            .select_from(m.AuditEvent)
            .where(m.AuditEvent.actor_label == f"client:{client.client_id}")
        )
    assert {json.loads(line)["id"] for line in lines} == ids  # the clinic it is registered for, only
    assert issued_audits and issued_audits >= 3  # token, kick-off, status reads, file


def test_es384_is_accepted_too(setup: tuple[TestClient, Client]) -> None:
    http, client = setup
    r = http.post("/fhir/auth/token", data=token_form(client.assertion(alg="ES384")))
    assert r.status_code == 200, r.text


def test_bad_assertions_are_refused(setup: tuple[TestClient, Client]) -> None:
    http, client = setup
    once = client.assertion()
    assert http.post("/fhir/auth/token", data=token_form(once)).status_code == 200
    cases: list[tuple[dict[str, str], int, str]] = [
        (token_form(once), 401, "invalid_client"),  # the same jti again
        (token_form(client.assertion(aud="https://elsewhere/token")), 401, "invalid_client"),
        (
            token_form(client.assertion(exp=int((NOW - timedelta(seconds=1)).timestamp()))),
            401,
            "invalid_client",
        ),
        (
            token_form(client.assertion(exp=int((NOW + timedelta(minutes=30)).timestamp()))),
            401,
            "invalid_client",
        ),
        (token_form(client.assertion(iss="someone-else")), 401, "invalid_client"),
        (token_form(client.assertion(), scope="system/*.cruds"), 400, "invalid_scope"),
        ({**token_form(client.assertion()), "grant_type": "password"}, 400, "unsupported_grant_type"),
        (token_form("not.a.jwt"), 401, "invalid_client"),
    ]
    # Signed by a key nobody registered.
    stranger = Client(
        client.client_id, rsa.generate_private_key(public_exponent=65537, key_size=2048), client.ec_key
    )
    cases.append((token_form(stranger.assertion()), 401, "invalid_client"))
    # alg none / HS256 are refused whatever the rest.
    header = b64(json.dumps({"alg": "none"}).encode())
    payload = client.assertion().split(".")[1]
    cases.append((token_form(f"{header}.{payload}."), 401, "invalid_client"))
    for form, status, error in cases:
        r = http.post("/fhir/auth/token", data=form)
        assert (r.status_code, r.json()["error"]) == (status, error), (form, r.text)
        assert r.json()["error_description"]


def test_a_token_reaches_only_its_clinics_and_expires(setup: tuple[TestClient, Client]) -> None:
    http, client = setup
    token = http.post("/fhir/auth/token", data=token_form(client.assertion())).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}", **ASYNC}
    assert http.get("/fhir/Group/den/$export", headers=bearer).status_code == 403
    assert http.get("/fhir/Group/aus/$export?_type=Organization", headers=bearer).status_code == 202
    assert http.get("/fhir/$export", headers={"Authorization": "Bearer nonsense", **ASYNC}).status_code == 401
    Clock.now = NOW + timedelta(minutes=6)
    try:
        r = http.get("/fhir/Group/aus/$export", headers=bearer)
        assert r.status_code == 401 and "expired" in r.json()["issue"][0]["diagnostics"]
    finally:
        Clock.now = NOW


def test_tokens_are_kept_as_hashes(setup: tuple[TestClient, Client], demo_engine: Engine) -> None:
    http, client = setup
    token = http.post("/fhir/auth/token", data=token_form(client.assertion())).json()["access_token"]
    with Session(demo_engine) as db:
        stored = list(db.scalars(select(m.FhirAccessToken.token_sha256)))
    assert token not in stored and len(stored) >= 1
