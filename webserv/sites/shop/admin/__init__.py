"""Admin CMS under ``/admin``: sign-in, dashboard, orders, products, customers, reviews, reports.

Every page but the login page needs an admin session (cookie ``admin_session``).
"""

from fastapi import APIRouter

from webserv.sites.shop.admin import auth, customers, dashboard, orders, products, reports, reviews

router = APIRouter(prefix="/admin")
for module in (auth, dashboard, orders, products, customers, reviews, reports):
    router.include_router(module.router)
