"""Psychiatrist: consultation with screening, consent, treatment plan, course review."""

from fastapi import APIRouter

router = APIRouter()
