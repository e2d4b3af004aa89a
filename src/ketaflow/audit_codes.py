"""What each audit event is, in the codes of FHIR R4 AuditEvent and IHE BALP: one table, pure.

An audit row (store/models/records.py, `audit_events`) answers who, what, when, where and with
what outcome, the shape of a FHIR AuditEvent, so exporting one is a pure function of the row and
this module. The columns and the AuditEvent elements they become:

column -> FHIR R4 AuditEvent element (codes, system):
- occurred_at -> recorded
- event_type -> type ("rest", audit-event-type; DICOM 110114 User Authentication, 110100)
- event_subtype -> subtype (restful-interaction read, search-type, create, update, delete;
  DICOM 110122 Login, 110123 Logout); and AuditEvent.action C/R/U/D/E from it (`FHIR_ACTION`)
- outcome -> outcome (success 0, refused 4, failed 8: `FHIR_OUTCOME`) and outcomeDesc
- actor_user_id, actor_label -> agent[requestor].who (staff user, "patient", "anonymous", operator)
- agent_role -> agent[requestor].role, as text (ketaflow's roles, vocabulary.Role; "patient")
- ip_address -> agent[requestor].network.address, type 2 (IP address)
- user_agent -> the client agent (BALP: DICOM 110153 Source Role ID) .who.display
- purpose_of_use -> agent[requestor].purposeOfUse (v3-ActReason TREAT or HOPERAT)
- source_observer -> source.observer.display, with source.type 4 Application Server
- clinic_id -> source.site
- entity_type, entity_id -> entity (audit-entity-type 2 System Object, object-role 4 Domain
  Resource); patient_id -> entity (type 1 Person, role 1 Patient, as BALP's patient slice)
- action, details -> entity.detail (ketaflow's own action name and details)

Sources (the codes below were checked against them):
- HL7 FHIR R4 (4.0.1) AuditEvent and its value sets: audit-event-outcome ("0 Success, 4 Minor
  failure (often equivalent to an HTTP 400 response), 8 Serious failure (... HTTP 500), 12 Major
  failure"), audit-event-type ("rest": RESTful Operation), restful-interaction (read, search-type,
  create, update, delete), audit-event-sub-type (DICOM PS3.16: 110114 User Authentication, 110122
  Login, 110123 Logout; 110100 Application Activity), security-source-type (4 Application
  Server). https://hl7.org/fhir/R4/auditevent.html
- IHE ITI Basic Audit Log Patterns (BALP) 1.1: a RESTful read is type "rest", subtype "read",
  action R; a query is subtype "search-type", action E; the patient is an entity of type 1 and
  role 1; the client is the DICOM 110153 Source Role ID agent, the server the 110152 Destination.
  https://profiles.ihe.net/ITI/BALP/
- Purpose of use: HL7 v3 ActReason (TREAT treatment, HOPERAT healthcare operations),
  http://terminology.hl7.org/CodeSystem/v3-ActReason.
"""

from __future__ import annotations

from dataclasses import dataclass

# ---- outcome ------------------------------------------------------------------------------
SUCCESS = "success"  # done as asked
REFUSED = "refused"  # refused by a rule: no permission (403), a record hidden (404), a wrong password
FAILED = "failed"  # could not be done because something broke on our side (500)
FHIR_OUTCOME = {SUCCESS: "0", REFUSED: "4", FAILED: "8"}
OUTCOME_SYSTEM = "http://hl7.org/fhir/audit-event-outcome"

# ---- type and subtype -------------------------------------------------------------------
REST = "rest"
USER_AUTHENTICATION = "110114"
APPLICATION_ACTIVITY = "110100"
LOGIN, LOGOUT = "110122", "110123"
READ, SEARCH, CREATE, UPDATE, DELETE = "read", "search-type", "create", "update", "delete"

EVENT_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/audit-event-type"
DICOM_SYSTEM = "http://dicom.nema.org/resources/ontology/DCM"
RESTFUL_SYSTEM = "http://hl7.org/fhir/restful-interaction"
# code -> (system, display), for every code an event_type or event_subtype column may hold.
CODINGS: dict[str, tuple[str, str]] = {
    REST: (EVENT_TYPE_SYSTEM, "RESTful Operation"),
    USER_AUTHENTICATION: (DICOM_SYSTEM, "User Authentication"),
    APPLICATION_ACTIVITY: (DICOM_SYSTEM, "Application Activity"),
    LOGIN: (DICOM_SYSTEM, "Login"),
    LOGOUT: (DICOM_SYSTEM, "Logout"),
    READ: (RESTFUL_SYSTEM, "read"),
    SEARCH: (RESTFUL_SYSTEM, "search-type"),
    CREATE: (RESTFUL_SYSTEM, "create"),
    UPDATE: (RESTFUL_SYSTEM, "update"),
    DELETE: (RESTFUL_SYSTEM, "delete"),
}
# AuditEvent.action from the subtype (BALP: a query is E, execute; sign-in and sign-out are E).
FHIR_ACTION = {READ: "R", SEARCH: "E", CREATE: "C", UPDATE: "U", DELETE: "D", LOGIN: "E", LOGOUT: "E"}
# AuditEvent.source.type: ketaflow is an application server.
SOURCE_TYPE = ("http://terminology.hl7.org/CodeSystem/security-source-type", "4", "Application Server")

# ---- purpose of use -----------------------------------------------------------------------
TREAT = "TREAT"  # staff reading or charting a patient's record, or the board of patients in chairs
HOPERAT = "HOPERAT"  # staff running the clinic: hours, bookings lists, staff accounts, outcomes
PURPOSE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"

# ---- ketaflow's action names -> codes ---------------------------------------------------------
# Signing in and out, of staff and of patients: DICOM User Authentication. Everything a sign-in
# attempt can end in is a Login event (its outcome says how it went).
_LOGIN_ACTIONS = frozenset(
    {
        "auth.sign_in",
        "auth.sign_in_failed",
        "auth.sign_in_locked",
        "auth.sign_in_throttled",
        "auth.password_ok_second_factor",
        "auth.password_ok_enrol",
        "auth.second_factor",
        "auth.second_factor_failed",
        "patient.sign_in",
        "patient_link.wrong_birth_date",
    }
)
_LOGOUT_ACTIONS = frozenset({"auth.sign_out", "patient.sign_out"})
# Verbs (the part after the first dot) of writes that change what exists rather than add to it.
_UPDATE_VERBS = frozenset(
    {
        "edit",
        "set",
        "set_hours",
        "reschedule",
        "cancel",
        "check_in",
        "correct",
        "resolve",
        "answer",
        "deactivate",
        "reactivate",
        "roles_set",
        "password_changed",
        "password_reset",
        "recovery_codes_replaced",
        "reset_by_manager",
        "unlock",
        "start",
        "pause",
        "resume",
        "stop",
        "complete",
        "replay",
    }
)
_DELETE_VERBS = frozenset({"remove_closure", "removed"})
# Reads of many records at once: a query (BALP Query).
_SEARCH_VERBS = frozenset({"list", "search", "duplicate_check", "week"})
# Views of patients that carry no single patient id (the board lists them in its details).
_PATIENT_VIEWS = frozenset({"board.view"})


@dataclass(frozen=True)
class EventCode:
    event_type: str
    event_subtype: str | None


def classify(action: str, *, read: bool) -> EventCode:
    """The AuditEvent type and subtype of a ketaflow action; `read` for record_read's reads."""
    if action in _LOGIN_ACTIONS or action.startswith("patient_link.refused_"):
        return EventCode(USER_AUTHENTICATION, LOGIN)
    if action in _LOGOUT_ACTIONS:
        return EventCode(USER_AUTHENTICATION, LOGOUT)
    if action.startswith("auth.") and action != "auth.unlock":  # e.g. a witness giving their password
        return EventCode(USER_AUTHENTICATION, None)
    if action.startswith("demo."):
        return EventCode(APPLICATION_ACTIVITY, None)
    verb = action.split(".", 1)[-1]
    if read:
        return EventCode(REST, SEARCH if verb in _SEARCH_VERBS else READ)
    if verb in _UPDATE_VERBS:
        return EventCode(REST, UPDATE)
    if verb in _DELETE_VERBS:
        return EventCode(REST, DELETE)
    return EventCode(REST, CREATE)


def subtype_for_method(method: str) -> str:
    """The restful-interaction an HTTP request attempted (for a refused request)."""
    return {"GET": READ, "HEAD": READ, "PUT": UPDATE, "PATCH": UPDATE, "DELETE": DELETE}.get(
        method.upper(), CREATE
    )


def outcome_of(action: str) -> str:
    """The outcome a ketaflow action name implies: the names of refused attempts say so."""
    if (
        action.endswith(("_failed", "_locked", "_throttled", "_wrong", "_refused", "wrong_birth_date"))
        or action.startswith("patient_link.refused_")
        or action == "access.refused"
    ):
        return REFUSED
    return SUCCESS


def purpose_of_use(event_type: str, action: str, *, staff: bool, patient: bool) -> str | None:
    """Why the data was used: treatment when staff touch a patient's record (or the board of
    patients), operations for the rest of staff work; none for sign-ins, patients' own use of
    their page and the application's own activity."""
    if event_type != REST or not staff:
        return None
    return TREAT if patient or action in _PATIENT_VIEWS else HOPERAT


PATIENT_ROLE = "patient"
OPERATOR_ROLE = "operator"
