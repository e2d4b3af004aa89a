"""Staff accounts, for the administrator and each clinic's director: pages and the JSON API.

A new account's first-password link and a reset link are shown once, in the answer that makes
them, to the person who issues them, to hand over (there is no e-mail yet; issue 17).
"""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel

from ketaflow.errors import Conflict, Forbidden, KetaflowError, NotFound
from ketaflow.services import staff_accounts
from ketaflow.services.audit import Actor
from ketaflow.services.auth import CurrentUser
from ketaflow.settings import get_settings
from ketaflow.store.models import Clinic, StaffUser
from ketaflow.vocabulary import Role
from ketaflow.web.deps import ApiWho, Db, FormWho, Now, Who, page

router = APIRouter()
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
ROLE_LABELS = {r: r.value.replace("_", " ") for r in Role}


def _actor(request: Request, who: CurrentUser) -> Actor:
    return who.actor()  # its origin is the request's (web/deps.py)


def _link_url(request: Request, token: str) -> str:
    base = get_settings().public_url or str(request.base_url)
    return base.rstrip("/") + f"/reset/{token}"


def _issued(request: Request, issued: staff_accounts.IssuedLink) -> dict[str, Any]:
    return {
        "user_id": str(issued.user.id),
        "email": issued.user.email,
        "url": _link_url(request, issued.token),
        "expires_at": issued.expires_at.isoformat(),
        "valid_minutes": staff_accounts.RESET_VALID_MINUTES,
    }


def _roles_json(roles: dict[uuid.UUID, set[Role]], clinics: dict[uuid.UUID, Clinic]) -> dict[str, list[str]]:
    return {
        (clinics[cid].code if cid in clinics else str(cid)): sorted(r.value for r in held)
        for cid, held in roles.items()
    }


def _user_json(row: staff_accounts.StaffRow, clinics: dict[uuid.UUID, Clinic]) -> dict[str, Any]:
    u: StaffUser = row.user
    return {
        "id": str(u.id),
        "email": u.email,
        "full_name": u.full_name,
        "active": u.active,
        "second_factor": row.second_factor,
        "roles": _roles_json(row.roles, clinics),
        "may_manage": row.may_manage,
    }


def _all_clinics(db: Db, who: CurrentUser) -> dict[uuid.UUID, Clinic]:
    return staff_accounts.clinics_by_id(db, who)


# ---- pages ----------------------------------------------------------------------------------


def _list_page(request: Request, db: Db, who: CurrentUser, status_code: int = 200, **extra: Any) -> Response:
    view = staff_accounts.directory(db, who)
    extra.setdefault("error", None)
    extra.setdefault("issued", None)
    extra.setdefault("form", {})
    response = page(
        request,
        "staff_list.html",
        status_code=status_code,
        who=who,
        view=view,
        clinics=_all_clinics(db, who),
        role_labels=ROLE_LABELS,
        create_roles=[r for r in Role if any(r in g for g in view.grantable.values())],
        **extra,
    )
    response.headers.update(NO_STORE)
    return response


@router.get("/staff", include_in_schema=False)
def staff_page(request: Request, db: Db, who: Who) -> Response:
    return _list_page(request, db, who)


@router.post("/staff", include_in_schema=False)
def staff_create_form(
    request: Request,
    db: Db,
    who: FormWho,
    now: Now,
    email: Annotated[str, Form()] = "",
    full_name: Annotated[str, Form()] = "",
    clinic: Annotated[str, Form()] = "",
    roles: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI reads a fresh list per request
) -> Response:
    form = {"email": email, "full_name": full_name, "clinic": clinic, "roles": roles}
    try:
        issued = staff_accounts.create(
            db,
            who,
            email=email,
            full_name=full_name,
            clinic_code=clinic,
            roles=staff_accounts.parse_roles(roles),
            now=now,
            actor=_actor(request, who),
        )
    except KetaflowError as exc:
        db.rollback()
        return _list_page(request, db, who, status_code=400, error=exc.message, form=form)
    return _list_page(request, db, who, issued=_issued(request, issued))


def _member_page(
    request: Request, db: Db, who: CurrentUser, user_id: uuid.UUID, status_code: int = 200, **extra: Any
) -> Response:
    row = staff_accounts.staff_member(db, who, user_id)
    view = staff_accounts.directory(db, who)
    extra.setdefault("error", None)
    extra.setdefault("issued", None)
    response = page(
        request,
        "staff_member.html",
        status_code=status_code,
        who=who,
        row=row,
        view=view,
        clinics=_all_clinics(db, who),
        role_labels=ROLE_LABELS,
        is_self=row.user.id == who.user.id,
        **extra,
    )
    response.headers.update(NO_STORE)
    return response


@router.get("/staff/{user_id}", include_in_schema=False)
def member_page(request: Request, user_id: uuid.UUID, db: Db, who: Who) -> Response:
    return _member_page(request, db, who, user_id)


@router.post("/staff/{user_id}/roles", include_in_schema=False)
def member_roles_form(
    request: Request,
    user_id: uuid.UUID,
    db: Db,
    who: FormWho,
    now: Now,
    clinic: Annotated[str, Form()] = "",
    roles: Annotated[list[str], Form()] = [],  # noqa: B006
) -> Response:
    try:
        staff_accounts.set_roles(
            db, who, user_id, clinic, staff_accounts.parse_roles(roles), now, actor=_actor(request, who)
        )
    except KetaflowError as exc:
        db.rollback()
        return _member_page(request, db, who, user_id, status_code=_status_for(exc), error=exc.message)
    return RedirectResponse(f"/staff/{user_id}", status_code=303)


def _status_for(exc: KetaflowError) -> int:
    return {Forbidden: 403, NotFound: 404, Conflict: 409}.get(type(exc), 400)


@router.post("/staff/{user_id}/deactivate", include_in_schema=False)
def member_deactivate_form(request: Request, user_id: uuid.UUID, db: Db, who: FormWho, now: Now) -> Response:
    staff_accounts.set_active(db, who, user_id, False, now, actor=_actor(request, who))
    return RedirectResponse(f"/staff/{user_id}", status_code=303)


@router.post("/staff/{user_id}/reactivate", include_in_schema=False)
def member_reactivate_form(request: Request, user_id: uuid.UUID, db: Db, who: FormWho, now: Now) -> Response:
    staff_accounts.set_active(db, who, user_id, True, now, actor=_actor(request, who))
    return RedirectResponse(f"/staff/{user_id}", status_code=303)


@router.post("/staff/{user_id}/reset-link", include_in_schema=False)
def member_reset_link_form(request: Request, user_id: uuid.UUID, db: Db, who: FormWho, now: Now) -> Response:
    issued = staff_accounts.issue_reset_link(db, who, user_id, now, actor=_actor(request, who))
    # Rendered (not redirected) so the link exists only in this one response.
    return _member_page(request, db, who, user_id, issued=_issued(request, issued))


@router.post("/staff/{user_id}/second-factor/reset", include_in_schema=False)
def member_mfa_reset_form(request: Request, user_id: uuid.UUID, db: Db, who: FormWho, now: Now) -> Response:
    staff_accounts.reset_second_factor(db, who, user_id, now, actor=_actor(request, who))
    return RedirectResponse(f"/staff/{user_id}", status_code=303)


# ---- JSON API -------------------------------------------------------------------------------


@router.get("/api/staff")
def staff_api(request: Request, db: Db, who: Who) -> Response:
    """The staff you manage (administrator; director: their clinic's), with roles per clinic."""
    view = staff_accounts.directory(db, who)
    clinics = _all_clinics(db, who)
    response = JSONResponse(
        {
            "staff": [_user_json(r, clinics) for r in view.rows],
            "clinics": [
                {"code": c.code, "name": c.name, "grantable_roles": [r.value for r in view.grantable[c.id]]}
                for c in view.clinics
            ],
        }
    )
    response.headers.update(NO_STORE)
    return response


class StaffIn(BaseModel):
    email: str = ""
    full_name: str = ""
    clinic: str = ""
    roles: list[str] = []


@router.post("/api/staff")
def staff_create_api(request: Request, body: StaffIn, db: Db, who: ApiWho, now: Now) -> Response:
    """Create a staff account with roles at one clinic. The answer carries, this once, the link
    the person uses to set their first password (valid for an hour)."""
    issued = staff_accounts.create(
        db,
        who,
        email=body.email,
        full_name=body.full_name,
        clinic_code=body.clinic,
        roles=staff_accounts.parse_roles(body.roles),
        now=now,
        actor=_actor(request, who),
    )
    response = JSONResponse(_issued(request, issued), status_code=201)
    response.headers.update(NO_STORE)
    return response


@router.get("/api/staff/{user_id}")
def member_api(request: Request, user_id: uuid.UUID, db: Db, who: Who) -> Response:
    """One staff member you manage."""
    row = staff_accounts.staff_member(db, who, user_id)
    response = JSONResponse(_user_json(row, _all_clinics(db, who)))
    response.headers.update(NO_STORE)
    return response


class RolesIn(BaseModel):
    roles: list[str] = []


@router.put("/api/staff/{user_id}/roles/{code}")
def member_roles_api(
    request: Request, user_id: uuid.UUID, code: str, body: RolesIn, db: Db, who: ApiWho, now: Now
) -> dict[str, Any]:
    """Replace the roles a staff member holds at one clinic (an empty list removes them there)."""
    roles = staff_accounts.set_roles(
        db, who, user_id, code, staff_accounts.parse_roles(body.roles), now, actor=_actor(request, who)
    )
    return {"id": str(user_id), "roles": _roles_json(roles, _all_clinics(db, who))}


@router.post("/api/staff/{user_id}/deactivate")
def member_deactivate_api(
    request: Request, user_id: uuid.UUID, db: Db, who: ApiWho, now: Now
) -> dict[str, Any]:
    """Switch an account off: every session of it ends at once."""
    user = staff_accounts.set_active(db, who, user_id, False, now, actor=_actor(request, who))
    return {"id": str(user.id), "active": user.active}


@router.post("/api/staff/{user_id}/reactivate")
def member_reactivate_api(
    request: Request, user_id: uuid.UUID, db: Db, who: ApiWho, now: Now
) -> dict[str, Any]:
    """Switch an account back on (its old sessions stay ended)."""
    user = staff_accounts.set_active(db, who, user_id, True, now, actor=_actor(request, who))
    return {"id": str(user.id), "active": user.active}


@router.post("/api/staff/{user_id}/reset-link")
def member_reset_link_api(request: Request, user_id: uuid.UUID, db: Db, who: ApiWho, now: Now) -> Response:
    """A one-time link to set a new password, returned this once to hand over (valid for an hour)."""
    issued = staff_accounts.issue_reset_link(db, who, user_id, now, actor=_actor(request, who))
    response = JSONResponse(_issued(request, issued))
    response.headers.update(NO_STORE)
    return response


@router.delete("/api/staff/{user_id}/second-factor")
def member_mfa_reset_api(
    request: Request, user_id: uuid.UUID, db: Db, who: ApiWho, now: Now
) -> dict[str, Any]:
    """Take a lost second factor off a staff member's account (they set up a new one)."""
    staff_accounts.reset_second_factor(db, who, user_id, now, actor=_actor(request, who))
    return {"id": str(user_id), "second_factor": False}
