"""Storefront routes: home, catalogue, search, product, cart, checkout, account, JSON API."""

from fastapi import APIRouter

from webserv.sites.shop.storefront import account, api, cart, catalog, checkout, product, search

router = APIRouter()
for module in (catalog, search, product, cart, checkout, account, api):
    router.include_router(module.router)
