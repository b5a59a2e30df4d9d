"""``func:`` evaluator helpers of the Redmine suite: state read through Redmine's REST API
as the admin (its API key, made by the seed), never through the agent's pages.

- ``redmine_issue_field(issue_id, field)``: ``status``, ``priority``, ``tracker``,
  ``assigned_to``, ``category`` or ``fixed_version`` by name, else the field as it is
  (``subject``, ``done_ratio``...); "" when unset.
- ``redmine_issue_notes(issue_id)``: the issue's journal notes, one per line.
- ``redmine_member_roles(project, login)``: the roles of a user in a project, comma-joined
  ("" when not a member).
- ``redmine_wiki_text(project, title)``: a wiki page's current text ("" when missing).
- ``redmine_latest_issue(project)``: "#<id> <subject>" of the project's newest issue.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

from webserv.sites.redmine.content import ADMIN_API_KEY

NAMED_FIELDS = ("status", "priority", "tracker", "assigned_to", "category", "fixed_version")


class RedmineApi:
    """Redmine's REST API of one instance, as its admin."""

    def __init__(self, url: str, client: httpx.AsyncClient) -> None:
        self.url = url.rstrip("/")
        self.client = client

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """The JSON of ``path``; None when Redmine answers 404."""
        response = await self.client.get(
            f"{self.url}{path}",
            params=params,
            headers={"X-Redmine-API-Key": ADMIN_API_KEY, "Accept": "application/json"},
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    async def issue_field(self, issue_id: int, field: str) -> str:
        data = await self.get(f"/issues/{int(issue_id)}.json")
        if data is None:
            return ""
        value = data["issue"].get(field)
        if field in NAMED_FIELDS:
            return str(value["name"]) if value else ""
        return "" if value is None else str(value)

    async def issue_notes(self, issue_id: int) -> str:
        data = await self.get(f"/issues/{int(issue_id)}.json", {"include": "journals"})
        if data is None:
            return ""
        return "\n".join(j["notes"] for j in data["issue"].get("journals", []) if j.get("notes"))

    async def member_roles(self, project: str, login: str) -> str:
        users = await self.get("/users.json", {"name": login, "status": "", "limit": "100"})
        user_ids = [u["id"] for u in (users or {}).get("users", []) if u.get("login") == login]
        if not user_ids:
            return ""
        offset = 0
        while True:
            page = await self.get(
                f"/projects/{project}/memberships.json", {"limit": "100", "offset": str(offset)}
            )
            if page is None:
                return ""
            for membership in page["memberships"]:
                if membership.get("user", {}).get("id") == user_ids[0]:
                    return ", ".join(role["name"] for role in membership["roles"])
            offset += len(page["memberships"])
            if not page["memberships"] or offset >= page["total_count"]:
                return ""

    async def wiki_text(self, project: str, title: str) -> str:
        data = await self.get(f"/projects/{project}/wiki/{title}.json")
        return "" if data is None else str(data["wiki_page"]["text"])

    async def latest_issue(self, project: str) -> str:
        data = await self.get(
            "/issues.json",
            {"project_id": project, "status_id": "*", "sort": "id:desc", "limit": "1"},
        )
        issues = (data or {}).get("issues", [])
        return f"#{issues[0]['id']} {issues[0]['subject']}" if issues else ""


def redmine_helpers(url: str, client: httpx.AsyncClient) -> dict[str, Callable[..., Any]]:
    api = RedmineApi(url, client)
    return {
        "redmine_issue_field": api.issue_field,
        "redmine_issue_notes": api.issue_notes,
        "redmine_member_roles": api.member_roles,
        "redmine_wiki_text": api.wiki_text,
        "redmine_latest_issue": api.latest_issue,
    }
