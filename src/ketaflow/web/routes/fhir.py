"""The FHIR R4 REST API under /fhir (application/fhir+json): metadata, read, search, $everything.

`GET /fhir/metadata` is public (no patient data); everything else needs a signed-in staff
session and follows the user's clinics and roles (services/fhir_api.py), audited. Errors are
OperationOutcomes (`outcome`, used by the app's error handlers for every /fhir path).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

import ketaflow
from ketaflow.errors import InvalidInput, NotFound
from ketaflow.fhir.capability import SEARCHABLE, capability_statement
from ketaflow.fhir.mapping import searchset_bundle
from ketaflow.services import fhir_api, fhir_bulk, fhir_referral, smart_auth
from ketaflow.services.auth import CurrentUser
from ketaflow.services.fhir_record import patient_record
from ketaflow.services.registration import PossibleDuplicates
from ketaflow.services.smart_auth import SystemCaller
from ketaflow.web.deps import Db, Now, Who, request_origin
from ketaflow.web.deps import _who as staff_who

router = APIRouter(prefix="/fhir", tags=["fhir"])
FHIR_JSON = "application/fhir+json"
DEFAULT_COUNT, MAX_COUNT = 50, 500

# HTTP status -> OperationOutcome issue type (http://hl7.org/fhir/issue-type, R4).
ISSUE_TYPE = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    409: "conflict",
    422: "invalid",
    500: "exception",
    503: "transient",
    507: "exception",
}


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON


def outcome(
    message: str, status: int, *, field: str | None = None, fields: dict[str, str] | None = None
) -> FhirResponse:
    """An error as an OperationOutcome: its sentence in diagnostics, the parameter at fault in
    expression; with `fields` (several problems at once), one issue for each."""
    kind = ISSUE_TYPE.get(status, "processing")
    if fields:
        issues = [
            {"severity": "error", "code": kind, "diagnostics": text, "expression": [where]}
            for where, text in fields.items()
        ]
    else:
        issue: dict[str, Any] = {"severity": "error", "code": kind, "diagnostics": message}
        if field:
            issue["expression"] = [field]
        issues = [issue]
    headers = {"WWW-Authenticate": 'Bearer realm="ketaflow"'} if status == 401 else None
    return FhirResponse(
        {"resourceType": "OperationOutcome", "issue": issues}, status_code=status, headers=headers
    )


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


@router.get("/metadata", response_class=FhirResponse)
def metadata(request: Request, now: Now) -> FhirResponse:
    """The CapabilityStatement (public: it holds no patient data)."""
    return FhirResponse(capability_statement(base_url(request), ketaflow.__version__, now))


# ---- SMART Backend Services (services/smart_auth.py) --------------------------------------------


def token_url(request: Request) -> str:
    return f"{base_url(request)}/auth/token"


@router.get("/.well-known/smart-configuration")
def smart_configuration(request: Request) -> JSONResponse:
    """What a SMART Backend Services client needs to know (public)."""
    return JSONResponse(
        {
            "token_endpoint": token_url(request),
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": list(smart_auth.ALGORITHMS),
            "scopes_supported": list(smart_auth.KNOWN_SCOPES),
            "capabilities": ["client-confidential-asymmetric"],
        }
    )


@router.post("/auth/token")
async def token(request: Request, db: Db, now: Now) -> JSONResponse:
    """client_credentials with a private_key_jwt assertion -> a five-minute bearer token."""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        issued = await run_in_threadpool(
            smart_auth.issue_token,
            db,
            form,
            token_url=token_url(request),
            now=now,
            origin=request_origin(request),
        )
    except smart_auth.OAuthError as refused:
        status = 401 if refused.error == "invalid_client" else 400
        return JSONResponse(
            {"error": refused.error, "error_description": refused.description},
            status_code=status,
            headers={"Cache-Control": "no-store"},
        )
    return JSONResponse(
        {
            "access_token": issued.access_token,
            "token_type": "bearer",
            "expires_in": issued.expires_in,
            "scope": issued.scope,
        },
        headers={"Cache-Control": "no-store"},
    )


def _bulk_who(request: Request, db: Db, now: Now) -> CurrentUser | SystemCaller:
    """A system client's bearer token, else a staff session (401 without either)."""
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        caller = smart_auth.caller_for(db, header[7:].strip(), now, request_origin(request))
        if caller is None:
            raise StarletteHTTPException(
                401, f"The access token is not valid or has expired; get a new one at {token_url(request)}."
            )
        return caller
    return staff_who(request, db)


BulkWho = Annotated[CurrentUser | SystemCaller, Depends(_bulk_who)]


# ---- Bulk Data $export (services/fhir_bulk.py) -------------------------------------------------


def _kick_off(
    request: Request, db: Session, who: CurrentUser | SystemCaller, level: str, group: str | None = None
) -> Response:
    if "respond-async" not in request.headers.get("prefer", ""):
        return outcome("A bulk export runs in the background: send the header Prefer: respond-async.", 400)
    query = request.query_params
    known = {"_type", "_since", "_outputFormat", "deidentify"}
    unknown = sorted(set(query) - known)
    if unknown:
        return outcome(
            f"$export does not take {', '.join(unknown)}; it takes _type, _since, _outputFormat and "
            "deidentify.",
            400,
        )
    deidentify = query.get("deidentify", "false").lower()
    if deidentify not in ("true", "false"):
        return outcome("deidentify is true or false.", 400)
    job = fhir_bulk.kick_off(
        db,
        who,
        fhir_bulk.Request(
            level=level,
            group=group,
            types=query.get("_type"),
            since=query.get("_since"),
            output_format=query.get("_outputFormat"),
            request_url=str(request.url),
            deidentified=deidentify == "true",
        ),
    )
    fhir_bulk.start(request.app.state.engine, job.id, request.app.state.data_dir)
    return Response(
        status_code=202, headers={"Content-Location": f"{base_url(request)}/$export-status/{job.id}"}
    )


@router.get("/$export")
def export_all(request: Request, db: Db, who: BulkWho) -> Response:
    """Bulk export of every patient of the clinics where you may export (202 + Content-Location)."""
    return _kick_off(request, db, who, "system")


@router.get("/Patient/$export")
def export_patients(request: Request, db: Db, who: BulkWho) -> Response:
    """Bulk export of the patients (and their records) of the clinics where you may export."""
    return _kick_off(request, db, who, "patient")


@router.get("/Group/{group}/$export")
def export_group(group: str, request: Request, db: Db, who: BulkWho) -> Response:
    """Bulk export of one clinic's patients (a group is a clinic, named by its code)."""
    return _kick_off(request, db, who, "group", group)


def _job_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise NotFound("There is no such export.") from None


@router.get("/$export-status/{job_id}")
def export_status(job_id: str, request: Request, db: Db, who: BulkWho) -> Response:
    """202 with X-Progress while the export runs; the manifest when it is done."""
    job = fhir_bulk.status(db, who, _job_id(job_id))
    if job.status in fhir_bulk.WAITING:
        return Response(
            status_code=202, headers={"X-Progress": fhir_bulk.progress_text(job), "Retry-After": "5"}
        )
    if job.status == "failed":
        return outcome(job.error or "The export failed.", 500)
    if job.status == "cancelled":
        return outcome("This export was cancelled.", 404)
    return JSONResponse(fhir_bulk.manifest(job, base_url(request)))


@router.delete("/$export-status/{job_id}")
def export_cancel(job_id: str, request: Request, db: Db, who: BulkWho) -> Response:
    """Cancel an export (its files are removed)."""
    fhir_bulk.cancel(db, who, _job_id(job_id), request.app.state.data_dir)
    return Response(status_code=202)


@router.get("/$export-file/{job_id}/{name}")
def export_file(job_id: str, name: str, request: Request, db: Db, who: BulkWho) -> Response:
    """One NDJSON file of a completed export."""
    path = fhir_bulk.file_path(db, who, _job_id(job_id), name, request.app.state.data_dir)
    return FileResponse(path, media_type="application/fhir+ndjson", filename=name)


# ---- referrals in (services/fhir_referral.py) -----------------------------------------------------

# Screening level (clinical/levels.py) -> OperationOutcome issue severity.
_SEVERITY = {
    "contraindicated": "error",
    "defer": "error",
    "psychiatrist_review": "warning",
    "caution": "warning",
    "information": "information",
}


@router.post("", response_class=FhirResponse)
async def referral(request: Request, db: Db, who: Who, now: Now) -> Response:
    """A referral Bundle (transaction) -> a registered patient: ?clinic=CODE; the screening comes back."""
    clinic = request.query_params.get("clinic")
    if not clinic:
        return outcome(
            "Say which clinic registers the patient: POST /fhir?clinic=<clinic code>.", 400, field="clinic"
        )
    try:
        bundle = await request.json()
    except ValueError:
        return outcome(
            "The body is not JSON: send the referral as a FHIR Bundle (application/fhir+json).", 400
        )
    confirm = request.query_params.get("confirm_not_duplicate", "").lower() == "true"
    try:
        done = await run_in_threadpool(
            fhir_referral.import_referral, db, who, clinic, bundle, now=now, confirm_not_duplicate=confirm
        )
    except PossibleDuplicates as duplicates:
        listed = "; ".join(
            f"{c.given_name} {c.family_name}, born {c.date_of_birth}, MRN {c.mrn} at {c.clinic_code} "
            f"({c.why})"
            for c in duplicates.candidates
        )
        return outcome(
            f"{duplicates.message} Candidates: {listed}. Send again with confirm_not_duplicate=true "
            "only if it is someone else.",
            409,
        )
    issues = [
        {
            "severity": _SEVERITY.get(str(f.level), "information"),
            "code": "business-rule",
            "diagnostics": f"{f.item}: {f.reason} {f.advice} (source: {f.source})",
        }
        for f in done.screening.findings
    ] + [
        {"severity": "information", "code": "not-supported", "diagnostics": f"Not imported: {what}."}
        for what in done.not_imported
    ]
    location = f"Patient/{done.patient.id}"
    entry_response: dict[str, Any] = {"status": "201 Created", "location": location}
    if issues:
        entry_response["outcome"] = {"resourceType": "OperationOutcome", "issue": issues}
    body = {"resourceType": "Bundle", "type": "transaction-response", "entry": [{"response": entry_response}]}
    return FhirResponse(body, status_code=201, headers={"Location": f"{base_url(request)}/{location}"})


@router.get("/Patient/{patient_id}/$everything", response_class=FhirResponse)
async def everything(patient_id: str, request: Request, db: Db, who: Who, now: Now) -> FhirResponse:
    """The patient's whole record with everything it refers to, one Bundle."""
    try:
        pid = uuid.UUID(patient_id)
    except ValueError:
        return outcome(f"There is no Patient with id {patient_id}.", 404)
    bundle = await run_in_threadpool(
        patient_record, db, who, pid, base_url=base_url(request), now=now, searchset=True
    )
    return FhirResponse(bundle)


def _params(resource_type: str, request: Request) -> tuple[fhir_api.SearchParams, int, int]:
    query = request.query_params
    known = set(SEARCHABLE.get(resource_type, ())) | {"_count", "_offset", "_lastUpdated", "_include"}
    unknown = tuple(sorted({name for name in query if name not in known}))

    def number(name: str, default: int, low: int, high: int) -> int:
        text = query.get(name)
        if text is None:
            return default
        if not text.isdigit() or not low <= int(text) <= high:
            raise InvalidInput(f"{name} must be a whole number from {low} to {high}.", field=name)
        return int(text)

    count = number("_count", DEFAULT_COUNT, 0, MAX_COUNT)
    offset = number("_offset", 0, 0, 10**9)
    patient = query.get("patient") or query.get("subject")
    params = fhir_api.SearchParams(
        patient=patient,
        codes=tuple(query.getlist("code")),
        dates=tuple(query.getlist("date")),
        last_updated=tuple(query.getlist("_lastUpdated")),
        ids=tuple(i for v in query.getlist("_id") for i in v.split(",")),
        identifier=query.get("identifier"),
        family=query.get("family"),
        birthdate=query.get("birthdate"),
        includes=tuple(query.getlist("_include")),
        unknown=unknown,
    )
    return params, count, offset


def _page_url(request: Request, offset: int, count: int) -> str:
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k not in ("_offset", "_count")]
    pairs += [("_count", str(count)), ("_offset", str(offset))]
    return f"{base_url(request)}/{request.path_params['resource_type']}?{urlencode(pairs)}"


@router.get("/{resource_type}", response_class=FhirResponse)
async def search(resource_type: str, request: Request, db: Db, who: Who, now: Now) -> FhirResponse:
    """Search one type (the parameters the CapabilityStatement lists), as a paged searchset Bundle."""
    fhir_api.supported(resource_type)
    params, count, offset = _params(resource_type, request)
    found = await run_in_threadpool(fhir_api.search, db, who, resource_type, params)
    links = {"self": _page_url(request, offset, count)}
    if offset + count < len(found):
        links["next"] = _page_url(request, offset + count, count)
    if offset > 0:
        links["previous"] = _page_url(request, max(0, offset - count), count)
    page = found[offset : offset + count]
    extra = await run_in_threadpool(fhir_api.included, db, who, resource_type, page, params)
    return FhirResponse(searchset_bundle(page, len(found), links, now, base_url(request), included=extra))


@router.get("/{resource_type}/{resource_id}", response_class=FhirResponse)
async def read(resource_type: str, resource_id: str, db: Db, who: Who) -> FhirResponse:
    """One resource by its id."""
    resource = await run_in_threadpool(fhir_api.read, db, who, resource_type, resource_id)
    return FhirResponse(resource)
