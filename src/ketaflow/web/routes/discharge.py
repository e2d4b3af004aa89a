"""Recovery and discharge: the checklist, the discharge itself, printable after-care."""

from fastapi import APIRouter

router = APIRouter()
