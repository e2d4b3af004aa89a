"""Director: a clinic's day, week of bookings and chair use."""

from fastapi import APIRouter

router = APIRouter()
