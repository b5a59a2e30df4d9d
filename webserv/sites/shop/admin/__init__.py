"""Admin CMS routes under ``/admin``."""

from fastapi import APIRouter

router = APIRouter(prefix="/admin")
