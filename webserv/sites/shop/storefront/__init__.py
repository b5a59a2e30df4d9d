"""Storefront routes (home, catalog, search, product, cart, checkout, account)."""

from fastapi import APIRouter

router = APIRouter()
