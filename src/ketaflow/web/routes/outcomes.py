"""Outcomes: network dashboard, clinic comparison, dissociation report, patient trajectory."""

from fastapi import APIRouter

router = APIRouter()
