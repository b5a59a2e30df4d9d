"""Catalogue search: the results page and the matching rule the suggestions share."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import Field

from webserv.sites.shop.storefront.catalog import ListingQuery, listing
from webserv.sites.shop.storefront.common import Conn, bad_request

router = APIRouter()

MAX_QUERY = 200
MAX_TERMS = 10


class SearchQuery(ListingQuery):
    q: str = Field("", max_length=MAX_QUERY, description="words to look for")


def like_pattern(term: str) -> str:
    """A LIKE pattern matching ``term`` anywhere, with its own % and _ taken literally."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_where(q: str) -> tuple[str, list[Any]]:
    """SQL matching products whose name, brand or category contains every word of ``q``."""
    terms = q.split()[:MAX_TERMS]
    if not terms:
        raise bad_request("Enter a word to search for.")
    clauses, params = [], []
    for term in terms:
        clauses.append(
            "(p.name LIKE ? ESCAPE '\\'"
            " OR p.brand_id IN (SELECT id FROM brands WHERE name LIKE ? ESCAPE '\\')"
            " OR p.category_id IN (SELECT id FROM categories WHERE name LIKE ? ESCAPE '\\'))"
        )
        params.extend([like_pattern(term)] * 3)
    return " AND ".join(clauses), params


@router.get("/search", response_class=HTMLResponse)
def search(request: Request, conn: Conn, query: Annotated[SearchQuery, Query()]) -> HTMLResponse:
    where, params = search_where(query.q)
    return listing(
        request,
        conn,
        where,
        params,
        query,
        heading=f"Search results for: '{query.q.strip()}'",
        intro="",
        crumbs=[],
        children=[],
        search_terms=query.q.strip(),
    )
