"""Admin CMS under ``/admin``: sign-in, dashboard, orders, products, customers, reviews, reports.

Every page but the login page needs an admin session (cookie ``admin_session``), and every
form post the session's form key (:mod:`webserv.sites.shop.csrf`).
"""

from fastapi import APIRouter, Depends

from webserv.sites.shop import csrf
from webserv.sites.shop.admin import auth, customers, dashboard, orders, products, reports, reviews
from webserv.sites.shop.admin.common import SESSION_COOKIE

router = APIRouter(prefix="/admin", dependencies=[Depends(csrf.protect(SESSION_COOKIE))])
for module in (auth, dashboard, orders, products, customers, reviews, reports):
    router.include_router(module.router)
