"""Nurse in the chair: side effects, interventions, comfort, assistance requests, CADSS."""

from fastapi import APIRouter

router = APIRouter()
