"""The patient's own page: one-time link, preparation, questions, questionnaires due."""

from fastapi import APIRouter

router = APIRouter()
