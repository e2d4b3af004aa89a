"""The organization, its clinics and chairs, staff and their roles per clinic."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
    event,
    inspect,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ketaflow.store.models.base import Base, ClinicOwned, Identified, Versioned, utcnow
from ketaflow.store.types import enum_column
from ketaflow.vocabulary import Role


class Organization(Identified, Base):
    __tablename__ = "organizations"

    name: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    clinics: Mapped[list[Clinic]] = relationship(back_populates="organization")


class Clinic(Identified, Versioned, Base):
    __tablename__ = "clinics"
    __table_args__ = (UniqueConstraint("organization_id", "code"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str]
    address_line: Mapped[str]
    city: Mapped[str] = mapped_column(String(100))
    region: Mapped[str] = mapped_column(String(100))
    postal_code: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2), default="US")
    phone: Mapped[str | None] = mapped_column(String(40))
    # The clinic's DEA registration number (Schedule III registrant; ketaflow.controlled.registration).
    dea_registration: Mapped[str | None] = mapped_column(String(9))
    # IANA zone name; times are stored in UTC and shown in the clinic's zone.
    timezone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # How many days ahead the clinic takes bookings: clinic policy, default 365
    # (ketaflow.hours.calendar.DEFAULT_HORIZON_DAYS). Opening hours: `ClinicHours`.
    booking_horizon_days: Mapped[int] = mapped_column(Integer, default=365, server_default="365")

    organization: Mapped[Organization] = relationship(back_populates="clinics")
    chairs: Mapped[list[Chair]] = relationship(back_populates="clinic", order_by="Chair.label")


class ClinicHours(Identified, ClinicOwned, Base):
    """One span of a weekday a clinic is open, in wall-clock minutes after local midnight.

    A weekday without rows is closed; several rows make a day with a break. Edited as a whole
    week (`ketaflow.services.clinic_hours.set_hours`), guarded by the clinic's version.
    """

    __tablename__ = "clinic_hours"
    __table_args__ = (
        UniqueConstraint("clinic_id", "weekday", "opens_min"),
        CheckConstraint("weekday >= 0 AND weekday <= 6", name="weekday"),
        CheckConstraint("opens_min >= 0 AND opens_min < closes_min AND closes_min <= 1440", name="span"),
    )

    weekday: Mapped[int] = mapped_column(SmallInteger)  # 0 Monday ... 6 Sunday
    opens_min: Mapped[int] = mapped_column(Integer)
    closes_min: Mapped[int] = mapped_column(Integer)  # 1440: midnight at the end of the day


class ClinicClosure(Identified, ClinicOwned, Base):
    """Days (first to last, inclusive, clinic-local dates) a clinic is closed whatever its hours say."""

    __tablename__ = "clinic_closures"
    __table_args__ = (CheckConstraint("first_day <= last_day", name="days"),)

    first_day: Mapped[date]
    last_day: Mapped[date]
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"))


class Chair(Identified, ClinicOwned, Base):
    __tablename__ = "chairs"
    __table_args__ = (UniqueConstraint("clinic_id", "label"),)

    label: Mapped[str] = mapped_column(String(40))
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    clinic: Mapped[Clinic] = relationship(back_populates="chairs")


class StaffUser(Identified, Versioned, Base):
    __tablename__ = "staff_users"

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str]
    # argon2id hash (see ketaflow.security); never the password itself.
    password_hash: Mapped[str]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Raised to end every session issued before (services.auth.end_all_sessions; also raised
    # on deactivation and on a password change, see below).
    session_epoch: Mapped[int] = mapped_column(Integer, server_default="0")
    # Second factor (services/mfa.py): the TOTP shared secret (RFC 6238, base32), sealed with
    # AES-GCM under a key kept outside the database (ketaflow/secret_box.py; schema 0014). Set
    # when enrolment starts; it counts only once `mfa_enabled_at` is set (the first code checked).
    mfa_secret_sealed: Mapped[str | None] = mapped_column(String(200))
    mfa_enabled_at: Mapped[datetime | None]
    # The last TOTP time step accepted: a code is never accepted twice (RFC 6238 section 5.2).
    mfa_last_step: Mapped[int | None] = mapped_column(Integer)
    password_changed_at: Mapped[datetime | None]

    roles: Mapped[list[StaffRole]] = relationship(back_populates="user")


def _end_sessions_on(attribute: str) -> None:
    """Deactivating a stored user, or changing their password, raises their session epoch in the
    same UPDATE: every session issued before stops working, even once they are reactivated.
    (A safety net for any code path; the services call `auth.end_all_sessions` as well.)"""

    @event.listens_for(getattr(StaffUser, attribute), "set")
    def _raise_epoch(target: StaffUser, value: object, oldvalue: object, _initiator: object) -> None:
        state = inspect(target)
        if not state.persistent or oldvalue is value or oldvalue == value:
            return
        if attribute == "active" and value:
            return  # reactivation ends nothing; the deactivation already did
        target.session_epoch = StaffUser.session_epoch + 1


_end_sessions_on("active")
_end_sessions_on("password_hash")


class StaffRecoveryCode(Identified, Base):
    """A single-use recovery code for the second factor; only its SHA-256 is kept."""

    __tablename__ = "staff_recovery_codes"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_users.id"), index=True)
    code_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]


class PasswordResetToken(Identified, Base):
    """A one-time link to set a new password (or the first one); only the token's SHA-256 is kept."""

    __tablename__ = "password_reset_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_users.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class StaffRole(Identified, ClinicOwned, Base):
    """One role a staff member holds at one clinic."""

    __tablename__ = "staff_roles"
    __table_args__ = (UniqueConstraint("user_id", "clinic_id", "role"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_users.id"), index=True)
    role: Mapped[Role] = mapped_column(enum_column(Role))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[StaffUser] = relationship(back_populates="roles")
    clinic: Mapped[Clinic] = relationship()
