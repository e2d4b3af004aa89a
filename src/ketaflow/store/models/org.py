"""The organization, its clinics and chairs, staff and their roles per clinic."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
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
    # IANA zone name; times are stored in UTC and shown in the clinic's zone.
    timezone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organization: Mapped[Organization] = relationship(back_populates="clinics")
    chairs: Mapped[list[Chair]] = relationship(back_populates="clinic", order_by="Chair.label")


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

    roles: Mapped[list[StaffRole]] = relationship(back_populates="user")


class StaffRole(Identified, ClinicOwned, Base):
    """One role a staff member holds at one clinic."""

    __tablename__ = "staff_roles"
    __table_args__ = (UniqueConstraint("user_id", "clinic_id", "role"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_users.id"), index=True)
    role: Mapped[Role] = mapped_column(enum_column(Role))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[StaffUser] = relationship(back_populates="roles")
    clinic: Mapped[Clinic] = relationship()
