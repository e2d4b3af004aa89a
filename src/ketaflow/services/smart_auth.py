"""SMART Backend Services (SMART App Launch 2.0.0, "Backend Services"): a registered system client
gets a short-lived access token for its `system/*` scopes with a signed JWT assertion.

The client POSTs `grant_type=client_credentials`, `scope`, `client_assertion_type =
urn:ietf:params:oauth:client-assertion-type:jwt-bearer` and `client_assertion`, a JWT (RFC 7523)
signed with its private key, RS384 or ES384 (the two algorithms the SMART specification requires
servers to support), whose iss and sub are its client_id, aud the token endpoint's URL, exp at most
five minutes ahead and jti unique. The signature is checked against the public keys registered for
the client (a JWKS; `kid` picks the key), with `cryptography` (RSASSA-PKCS1-v1_5 with SHA-384; ECDSA
P-384 with SHA-384, the JWS signature being r||s, RFC 7518 section 3.4). An assertion's jti is kept
with the token it got, so it is never accepted twice. Tokens live five minutes; only their SHA-256
is stored. Errors are OAuth 2.0 errors (RFC 6749 section 5.2): invalid_request, invalid_client,
invalid_grant, invalid_scope, unsupported_grant_type, each with a sentence saying what to fix.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ketaflow.errors import InvalidInput
from ketaflow.security import new_token, token_digest
from ketaflow.services.audit import Actor, Origin, record
from ketaflow.store import models as m
from ketaflow.store.engine import begin_write

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_LIFETIME = timedelta(minutes=5)
MAX_ASSERTION_LIFETIME = timedelta(minutes=5)  # SMART Backend Services: exp no more than 5 min ahead
ALGORITHMS = ("RS384", "ES384")
# The scopes a client may be registered for: read and search of every type, SMART v2 (.rs) and v1 (.read).
KNOWN_SCOPES = ("system/*.rs", "system/*.read")


class OAuthError(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True)
class Issued:
    access_token: str
    expires_in: int
    scope: str


@dataclass(frozen=True)
class SystemCaller:
    """A client holding a valid token: who it is, its scopes and the clinics it may export."""

    client_id: str
    scopes: frozenset[str]
    clinic_ids: frozenset[uuid.UUID]
    origin: Origin

    def actor(self) -> Actor:
        return Actor(
            None, f"client:{self.client_id}", self.origin.ip_address, self.origin.user_agent, roles="system"
        )


def _b64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise OAuthError("invalid_client", "The client_assertion is not a JWT (base64url parts).") from None


def _int(text: str) -> int:
    return int.from_bytes(_b64(text), "big")


def _public_key(jwk: dict[str, Any]) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    if jwk.get("kty") == "RSA":
        return rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"])).public_key()
    if jwk.get("kty") == "EC" and jwk.get("crv") == "P-384":
        return ec.EllipticCurvePublicNumbers(_int(jwk["x"]), _int(jwk["y"]), ec.SECP384R1()).public_key()
    raise OAuthError("invalid_client", "A registered key is neither RSA nor EC P-384.")


def _verify(alg: str, key: Any, signing_input: bytes, signature: bytes) -> bool:
    try:
        if alg == "RS384" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA384())
            return True
        if alg == "ES384" and isinstance(key, ec.EllipticCurvePublicKey) and len(signature) == 96:
            r, s = int.from_bytes(signature[:48], "big"), int.from_bytes(signature[48:], "big")
            key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(hashes.SHA384()))
            return True
    except InvalidSignature:
        return False
    return False


def register_client(
    db: Session, *, client_id: str, name: str, jwks: dict[str, Any], scopes: str, clinic_ids: list[uuid.UUID]
) -> m.FhirClient:
    """Register a system client with its public keys (a JWKS) and the clinics it may export."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not keys or not isinstance(keys, list):
        raise InvalidInput("The JWKS must be a JSON object with a non-empty list of keys.", field="jwks")
    for jwk in keys:
        try:
            _public_key(jwk)
        except (OAuthError, KeyError, ValueError):
            raise InvalidInput(
                "Each key must be a public RSA key or an EC P-384 key in JWK form (kty, n/e or crv/x/y).",
                field="jwks",
            ) from None
    unknown = sorted(set(scopes.split()) - set(KNOWN_SCOPES))
    if unknown or not scopes.split():
        raise InvalidInput(f"Scopes must be among {', '.join(KNOWN_SCOPES)}.", field="scopes")
    if db.scalar(select(m.FhirClient).where(m.FhirClient.client_id == client_id)) is not None:
        raise InvalidInput(f"A client {client_id} is already registered.", field="client_id")
    client = m.FhirClient(
        client_id=client_id,
        name=name,
        jwks=jwks,
        scopes=scopes,
        clinic_ids=sorted(str(c) for c in clinic_ids),
    )
    db.add(client)
    db.flush()
    return client


def issue_token(
    db: Session, form: dict[str, str], *, token_url: str, now: datetime, origin: Origin
) -> Issued:
    """Check the request and its assertion; issue a token (audited either way)."""
    label = "client:unknown"
    begin_write(db)  # it reads the client, then writes the token and the audit: one writer throughout
    try:
        if form.get("grant_type") != "client_credentials":
            raise OAuthError("unsupported_grant_type", "Use grant_type=client_credentials.")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise OAuthError("invalid_request", f"Send client_assertion_type={ASSERTION_TYPE}.")
        assertion = form.get("client_assertion", "")
        parts = assertion.split(".")
        if len(parts) != 3:
            raise OAuthError("invalid_client", "The client_assertion is not a signed JWT (three parts).")
        try:
            header = json.loads(_b64(parts[0]))
            claims = json.loads(_b64(parts[1]))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise OAuthError(
                "invalid_client", "The client_assertion's header or claims are not JSON."
            ) from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise OAuthError(
                "invalid_client", "The client_assertion's header and claims must be JSON objects."
            )
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise OAuthError(
                "invalid_client", f"Sign the assertion with {' or '.join(ALGORITHMS)}, not {alg}."
            )
        client_id = claims.get("iss")
        label = f"client:{client_id}"
        if not isinstance(client_id, str) or claims.get("sub") != client_id:
            raise OAuthError("invalid_client", "The assertion's iss and sub must both be the client_id.")
        client = db.scalar(select(m.FhirClient).where(m.FhirClient.client_id == client_id))
        if client is None or not client.active:
            raise OAuthError("invalid_client", f"No active client {client_id} is registered here.")
        keys = [k for k in client.jwks.get("keys", []) if header.get("kid") in (None, k.get("kid"))]
        signing_input = f"{parts[0]}.{parts[1]}".encode()
        signature = _b64(parts[2])
        if not any(_verify(alg, _public_key(k), signing_input, signature) for k in keys):
            raise OAuthError(
                "invalid_client", "The assertion's signature does not match the client's registered keys."
            )
        aud = claims.get("aud")
        if token_url not in (aud if isinstance(aud, list) else [aud]):
            raise OAuthError(
                "invalid_client", f"The assertion's aud must be the token endpoint, {token_url}."
            )
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)):
            raise OAuthError("invalid_client", "The assertion needs an exp (seconds since 1970).")
        expires = datetime.fromtimestamp(exp, tz=now.tzinfo)
        if expires <= now:
            raise OAuthError("invalid_client", "The assertion has expired; sign a new one.")
        if expires > now + MAX_ASSERTION_LIFETIME:
            raise OAuthError("invalid_client", "The assertion's exp must be at most five minutes ahead.")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > 255:
            raise OAuthError(
                "invalid_client", "The assertion needs a jti (a unique id, up to 255 characters)."
            )
        asked = set((form.get("scope") or "").split())
        if not asked:
            raise OAuthError("invalid_scope", "Ask for a scope, e.g. scope=system/*.rs.")
        granted = asked & set(client.scopes.split())
        if not granted:
            raise OAuthError("invalid_scope", f"This client may ask for {client.scopes} only.")
        token = new_token()
        db.add(
            m.FhirAccessToken(
                token_sha256=token_digest(token),
                client_row_id=client.id,
                assertion_jti=jti,
                scopes=" ".join(sorted(granted)),
                created_at=now,
                expires_at=now + TOKEN_LIFETIME,
            )
        )
        try:
            db.flush()
        except IntegrityError:
            db.rollback()
            raise OAuthError(
                "invalid_client", "This assertion (its jti) was used already; sign a new one."
            ) from None
        record(
            db,
            _actor(label, origin),
            "auth.token",
            "fhir_client",
            client.id,
            details={"scope": sorted(granted)},
        )
        db.commit()
        return Issued(token, int(TOKEN_LIFETIME.total_seconds()), " ".join(sorted(granted)))
    except OAuthError as refused:
        db.rollback()
        begin_write(db)
        record(
            db, _actor(label, origin), "auth.token_refused", "fhir_client", details={"error": refused.error}
        )
        db.commit()
        raise


def _actor(label: str, origin: Origin) -> Actor:
    return Actor(None, label[:120], origin.ip_address, origin.user_agent, roles="system")


def caller_for(db: Session, token: str, now: datetime, origin: Origin) -> SystemCaller | None:
    """The client a bearer token belongs to, if the token is valid and unexpired."""
    row = db.scalar(select(m.FhirAccessToken).where(m.FhirAccessToken.token_sha256 == token_digest(token)))
    if row is None or row.expires_at <= now:
        return None
    client = db.get(m.FhirClient, row.client_row_id)
    if client is None or not client.active:
        return None
    return SystemCaller(
        client.client_id,
        frozenset(row.scopes.split()),
        frozenset(uuid.UUID(c) for c in client.clinic_ids),
        origin,
    )
