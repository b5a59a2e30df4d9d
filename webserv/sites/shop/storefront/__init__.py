"""Storefront routes: home, catalogue, search, product, cart, checkout, account, JSON API."""

from fastapi import APIRouter, Depends

from webserv.sites.shop import csrf
from webserv.sites.shop.storefront import account, api, cart, catalog, checkout, product, search
from webserv.sites.shop.storefront.common import SESSION_COOKIE

router = APIRouter(dependencies=[Depends(csrf.protect(SESSION_COOKIE))])
for module in (catalog, search, product, cart, checkout, account, api):
    router.include_router(module.router)
