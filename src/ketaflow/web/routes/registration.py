"""Front desk: registering patients (with duplicate detection), booking, the week view."""

from fastapi import APIRouter

router = APIRouter()
