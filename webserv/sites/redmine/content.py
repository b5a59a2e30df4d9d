"""Redmine's golden content, generated deterministically from a seed.

:func:`generate` builds everything the golden holds beyond Redmine's default data
(trackers, statuses, priorities and roles keep their default names): users, projects with
subprojects, members in roles, categories, versions, issues with journals (comments and
status changes), wiki pages and attachments. The same seed and scale give the same ids,
texts, dates and counts; the task suite reads its answers from the same object.

:func:`write_seed` writes it as ``seed/content.json`` (loaded in the image by
``containers/redmine/load_content.rb``) and the attachment files under ``files/``, where
Redmine keeps them.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

#: Redmine's default data (``redmine:load_default_data``, English).
TRACKERS = ("Bug", "Feature", "Support")
STATUSES = ("New", "In Progress", "Resolved", "Feedback", "Closed", "Rejected")
CLOSED_STATUSES = frozenset({"Closed", "Rejected"})
PRIORITIES = ("Low", "Normal", "High", "Urgent", "Immediate")
ROLES = ("Manager", "Developer", "Reporter")
#: Members after a project's first (its Manager): two Developers to a Reporter.
MEMBER_ROLES = ("Developer", "Developer", "Reporter")
MODULES = (
    "issue_tracking",
    "time_tracking",
    "news",
    "documents",
    "files",
    "wiki",
    "boards",
    "calendar",
    "gantt",
)

ADMIN_LOGIN = "admin"
ADMIN_PASSWORD = "Admin-Redmine-2024"
#: The admin's REST API key, which the evaluator helpers send.
ADMIN_API_KEY = "5e1f0c2a9b7d4e6f8a3c1b0d9e7f6a5b4c3d2e1f"
#: Every user signs in with this password.
USER_PASSWORD = "Member-Redmine-2024"
#: The ordinary user of the site's logins: the same in every golden, a Developer in the
#: first three projects.
LOGIN_USER = ("jordan.miller", "Jordan", "Miller")
#: What ``Setting.host_name`` says in the golden; each instance rewrites it to its address.
GOLDEN_HOST = "redmine.golden.invalid"

EPOCH = datetime(2023, 1, 2, 9, 0, 0)
#: Media attachments are written in pieces of this size (and are this big, but the last).
MEDIA_FILE_BYTES = 8 << 20

FIRST_NAMES = (
    "Alice", "Bruno", "Chen", "Dana", "Emeka", "Fatima", "Gustav", "Hana", "Ivan", "Julia",
    "Kofi", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quentin", "Rosa", "Sven", "Tara",
    "Umar", "Vera", "Wen", "Ximena", "Yusuf", "Zoe", "Arjun", "Beatriz", "Colm", "Dmitri",
)  # fmt: skip
LAST_NAMES = (
    "Abbott", "Bianchi", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad",
    "Ito", "Jensen", "Kowalski", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov",
    "Quinn", "Rossi", "Schmidt", "Tanaka", "Usman", "Varga", "Weber", "Xu", "Yilmaz",
    "Zhang", "Almeida", "Brennan", "Castillo", "Demir",
)  # fmt: skip
PROJECT_NAMES = (
    "Aurora Platform", "Beacon Mobile", "Cobalt Billing", "Delta Search", "Ember CRM",
    "Falcon Gateway", "Granite Storage", "Harbor Logistics", "Iris Analytics",
    "Juniper Docs", "Kestrel Monitoring", "Lumen Design System", "Meridian Payments",
    "Nimbus Cloud", "Orchid Marketplace", "Pioneer Onboarding",
)  # fmt: skip
SUBPROJECT_NAMES = (
    "API", "Web Client", "Infrastructure", "Data Pipeline", "Android App", "iOS App",
    "Reporting", "Security Review",
)  # fmt: skip
CATEGORY_NAMES = ("Backend", "Frontend", "Database", "Documentation", "Performance", "UX")
COMPONENTS = (
    "login form", "search index", "export job", "invoice PDF", "user profile", "dashboard",
    "REST endpoint", "email digest", "upload widget", "settings page", "audit log",
    "session cache", "report builder", "notification center", "import wizard", "sidebar",
    "checkout flow", "password reset", "timeline view", "webhook dispatcher",
)  # fmt: skip
BUG_PATTERNS = (
    "{c} crashes when {x}", "{c} shows wrong totals after {x}", "{c} times out when {x}",
    "{c} loses data when {x}", "{c} renders blank after {x}", "{c} rejects valid input when {x}",
)  # fmt: skip
FEATURE_PATTERNS = (
    "Add filters to the {c}", "Allow bulk edit in the {c}", "Support dark mode in the {c}",
    "Export the {c} to CSV", "Add keyboard shortcuts to the {c}", "Localize the {c}",
)  # fmt: skip
SUPPORT_PATTERNS = (
    "Question about the {c}", "Customer cannot find the {c}", "How to configure the {c}",
    "Access request for the {c}",
)  # fmt: skip
CONDITIONS = (
    "the list is empty", "a filter is applied", "the session expires", "two tabs are open",
    "the locale is German", "a large file is attached", "the network is slow",
    "the user has no role", "sorting by date", "pagination reaches the end",
)  # fmt: skip
COMMENTS = (
    "I can reproduce this on the staging server.",
    "Could you attach the log from the last run?",
    "This is related to the change we deployed last week.",
    "Working on a fix, should be ready for review soon.",
    "The fix is merged, please verify.",
    "Verified on staging, looks good to me.",
    "Lowering the priority: there is a workaround.",
    "Customer confirmed the problem is gone.",
    "Needs a decision from the product owner.",
    "Added a regression test for this case.",
)
#: Wiki pages every project has besides its start page, and the fact each one states.
WIKI_PAGES = ("Installation_Guide", "Release_Process", "Coding_Standards", "Meeting_Notes")
DATABASES = ("PostgreSQL 15", "MySQL 8.0", "MariaDB 10.11", "SQLite 3")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
STYLE_TOOLS = ("ruff", "eslint", "rubocop", "clang-format", "gofmt", "prettier")


@dataclass
class User:
    id: int
    login: str
    firstname: str
    lastname: str
    mail: str
    salt: str
    hashed_password: str
    created_on: str

    @property
    def name(self) -> str:
        return f"{self.firstname} {self.lastname}"


@dataclass
class Project:
    id: int
    identifier: str
    name: str
    description: str
    parent_id: int | None
    is_public: bool
    created_on: str
    lft: int = 0
    rgt: int = 0
    trackers: list[str] = field(default_factory=lambda: list(TRACKERS))
    modules: list[str] = field(default_factory=lambda: list(MODULES))


@dataclass
class Member:
    id: int
    project_id: int
    user_id: int
    roles: list[str]
    created_on: str


@dataclass
class Category:
    id: int
    project_id: int
    name: str
    assigned_to_id: int | None


@dataclass
class Version:
    id: int
    project_id: int
    name: str
    description: str
    effective_date: str
    status: str
    created_on: str


@dataclass
class Issue:
    id: int
    project_id: int
    tracker: str
    status: str
    priority: str
    subject: str
    description: str
    author_id: int
    assigned_to_id: int | None
    category_id: int | None
    fixed_version_id: int | None
    start_date: str
    due_date: str | None
    done_ratio: int
    estimated_hours: float | None
    created_on: str
    updated_on: str
    closed_on: str | None


@dataclass
class Journal:
    id: int
    issue_id: int
    user_id: int
    notes: str
    created_on: str
    details: list[dict[str, str | None]]


@dataclass
class Wiki:
    id: int
    project_id: int
    start_page: str = "Wiki"


@dataclass
class WikiPage:
    id: int
    wiki_id: int
    project_id: int
    title: str
    text: str
    author_id: int
    parent_id: int | None
    created_on: str
    #: The fact the page states, for the task suite (not loaded).
    fact: dict[str, str] = field(default_factory=dict)


@dataclass
class Attachment:
    id: int
    issue_id: int
    filename: str
    disk_directory: str
    disk_filename: str
    filesize: int
    content_type: str
    digest: str
    author_id: int
    description: str
    created_on: str


@dataclass
class Content:
    seed: int
    scale: float
    admin: dict[str, str]
    users: list[User]
    projects: list[Project]
    members: list[Member]
    categories: list[Category]
    versions: list[Version]
    issues: list[Issue]
    journals: list[Journal]
    wikis: list[Wiki]
    wiki_pages: list[WikiPage]
    attachments: list[Attachment]
    settings: dict[str, str]
    #: Attachment file contents by ``disk_directory/disk_filename`` (text attachments).
    files: dict[str, bytes] = field(default_factory=dict, repr=False)

    def user(self, user_id: int) -> User:
        return self._users[user_id]

    def project(self, project_id: int) -> Project:
        return self._projects[project_id]

    def __post_init__(self) -> None:
        self._users = {u.id: u for u in self.users}
        self._projects = {p.id: p for p in self.projects}

    def members_of(self, project_id: int) -> list[Member]:
        return [m for m in self.members if m.project_id == project_id]

    def issues_of(self, project_id: int) -> list[Issue]:
        return [i for i in self.issues if i.project_id == project_id]

    def to_json(self) -> dict[str, Any]:
        """What ``load_content.rb`` reads."""

        def rows(items: list[Any]) -> list[dict[str, Any]]:
            return [asdict(item) for item in items]

        return {
            "seed": self.seed,
            "scale": self.scale,
            "admin": self.admin,
            "settings": self.settings,
            "users": rows(self.users),
            "projects": rows(self.projects),
            "members": rows(self.members),
            "categories": rows(self.categories),
            "versions": rows(self.versions),
            "issues": rows(self.issues),
            "journals": rows(self.journals),
            "wikis": rows(self.wikis),
            "wiki_pages": rows(self.wiki_pages),
            "attachments": rows(self.attachments),
        }


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _salted(rng: random.Random, password: str) -> tuple[str, str]:
    """Redmine's password hash: SHA1(salt + SHA1(password)), with a 32 hex digit salt."""
    salt = f"{rng.getrandbits(128):032x}"
    inner = hashlib.sha1(password.encode()).hexdigest()
    return salt, hashlib.sha1((salt + inner).encode()).hexdigest()


def _slug(text: str) -> str:
    return "-".join(text.lower().replace("/", " ").split())


def _nested_set(projects: list[Project]) -> None:
    """Redmine's lft/rgt for the project tree, siblings ordered by name as Redmine does."""
    children: dict[int | None, list[Project]] = {}
    for project in projects:
        children.setdefault(project.parent_id, []).append(project)
    counter = 0

    def visit(project: Project) -> None:
        nonlocal counter
        counter += 1
        project.lft = counter
        for child in sorted(children.get(project.id, []), key=lambda p: p.name.lower()):
            visit(child)
        counter += 1
        project.rgt = counter

    for root in sorted(children.get(None, []), key=lambda p: p.name.lower()):
        visit(root)


def generate(seed: int = 7, scale: float = 1.0) -> Content:
    """All of the golden's content for ``seed`` and ``scale`` (1.0: 24 projects, 3,000
    issues, 120 users)."""
    rng = random.Random(seed)
    n_users = max(20, round(120 * scale))
    n_issues = max(60, round(3000 * scale))

    admin_salt, admin_hash = _salted(rng, ADMIN_PASSWORD)
    admin = {
        "login": ADMIN_LOGIN,
        "firstname": "Redmine",
        "lastname": "Admin",
        "mail": "admin@redmine.example.com",
        "salt": admin_salt,
        "hashed_password": admin_hash,
        "api_key": ADMIN_API_KEY,
        "password": ADMIN_PASSWORD,
        "created_on": _stamp(EPOCH),
    }

    login, first, last = LOGIN_USER
    salt, hashed = _salted(rng, USER_PASSWORD)
    users: list[User] = [
        User(5, login, first, last, f"{login}@redmine.example.com", salt, hashed, _stamp(EPOCH))
    ]
    taken = {f"{first} {last}"}
    for index in range(1, n_users):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        while f"{first} {last}" in taken:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        taken.add(f"{first} {last}")
        login = f"{first}.{last}".lower()
        salt, hashed = _salted(rng, USER_PASSWORD)
        users.append(
            User(
                id=5 + index,  # ids below are Redmine's admin and built-in principals
                login=login,
                firstname=first,
                lastname=last,
                mail=f"{login}@redmine.example.com",
                salt=salt,
                hashed_password=hashed,
                created_on=_stamp(EPOCH + timedelta(days=index % 40, hours=index % 7)),
            )
        )

    projects: list[Project] = []
    for index, name in enumerate(PROJECT_NAMES):
        projects.append(
            Project(
                id=index + 1,
                identifier=_slug(name),
                name=name,
                description=f"{name}: {rng.choice(COMPONENTS)} and {rng.choice(COMPONENTS)}.",
                parent_id=None,
                is_public=index % 5 != 4,
                created_on=_stamp(EPOCH + timedelta(days=index)),
            )
        )
    parents = rng.sample(projects, len(SUBPROJECT_NAMES))
    for index, (sub, parent) in enumerate(zip(SUBPROJECT_NAMES, parents, strict=True)):
        projects.append(
            Project(
                id=len(PROJECT_NAMES) + index + 1,
                identifier=f"{parent.identifier}-{_slug(sub)}",
                name=f"{parent.name} {sub}",
                description=f"The {sub} of {parent.name}.",
                parent_id=parent.id,
                is_public=parent.is_public,
                created_on=_stamp(EPOCH + timedelta(days=20 + index)),
            )
        )
    _nested_set(projects)

    members: list[Member] = []
    team: dict[int, list[Member]] = {}
    for project in projects:
        chosen = rng.sample(users, min(len(users), rng.randint(8, 14)))
        for position, user in enumerate(chosen):
            role = "Manager" if position == 0 else rng.choice(MEMBER_ROLES)
            member = Member(
                id=len(members) + 1,
                project_id=project.id,
                user_id=user.id,
                roles=[role],
                created_on=project.created_on,
            )
            members.append(member)
            team.setdefault(project.id, []).append(member)
    # The ordinary user of the logins is a Developer in the first three projects.
    login_user = users[0]
    for project in projects[:3]:
        current = next((m for m in team[project.id] if m.user_id == login_user.id), None)
        if current is None:
            current = Member(len(members) + 1, project.id, login_user.id, [], project.created_on)
            members.append(current)
            team[project.id].append(current)
        current.roles = ["Developer"]

    categories: list[Category] = []
    versions: list[Version] = []
    for project in projects:
        workers = [m.user_id for m in team[project.id] if m.roles != ["Reporter"]]
        for name in rng.sample(CATEGORY_NAMES, 3):
            categories.append(
                Category(len(categories) + 1, project.id, name, rng.choice([*workers, None]))
            )
        for number in range(1, 4):
            due = EPOCH.date() + timedelta(days=90 * number + rng.randint(0, 20))
            versions.append(
                Version(
                    id=len(versions) + 1,
                    project_id=project.id,
                    name=f"{number}.0",
                    description=f"Release {number}.0 of {project.name}",
                    effective_date=due.isoformat(),
                    status="closed" if number == 1 else "open",
                    created_on=project.created_on,
                )
            )

    issues: list[Issue] = []
    journals: list[Journal] = []
    weights = [rng.uniform(0.5, 2.0) for _ in projects]
    for number in range(1, n_issues + 1):
        project = rng.choices(projects, weights)[0]
        people = team[project.id]
        workers = [m.user_id for m in people if m.roles != ["Reporter"]]
        tracker = rng.choices(TRACKERS, (5, 3, 2))[0]
        patterns = {"Bug": BUG_PATTERNS, "Feature": FEATURE_PATTERNS}.get(tracker, SUPPORT_PATTERNS)
        component = rng.choice(COMPONENTS)
        subject = rng.choice(patterns).format(c=component, x=rng.choice(CONDITIONS))
        subject = subject[0].upper() + subject[1:]
        status = rng.choices(STATUSES, (30, 20, 15, 8, 20, 7))[0]
        created = EPOCH + timedelta(days=30, minutes=number * 211 + rng.randint(0, 200))
        project_categories = [c.id for c in categories if c.project_id == project.id]
        project_versions = [v.id for v in versions if v.project_id == project.id]
        issue = Issue(
            id=number,
            project_id=project.id,
            tracker=tracker,
            status="New",
            priority=rng.choices(PRIORITIES, (15, 50, 20, 10, 5))[0],
            subject=subject,
            description=(
                f"The {component} of {project.name} needs attention.\n\n"
                f"Observed while {rng.choice(CONDITIONS)}."
            ),
            author_id=rng.choice(people).user_id,
            assigned_to_id=rng.choice(workers) if rng.random() < 0.85 else None,
            category_id=rng.choice(project_categories) if rng.random() < 0.7 else None,
            fixed_version_id=rng.choice(project_versions) if rng.random() < 0.6 else None,
            start_date=created.date().isoformat(),
            due_date=(
                (created.date() + timedelta(days=rng.randint(7, 60))).isoformat()
                if rng.random() < 0.5
                else None
            ),
            done_ratio=0,
            estimated_hours=float(rng.choice((1, 2, 4, 8, 16))) if rng.random() < 0.4 else None,
            created_on=_stamp(created),
            updated_on=_stamp(created),
            closed_on=None,
        )
        # The way from New to the final status, one journal per change.
        path = {
            "New": [],
            "In Progress": ["In Progress"],
            "Feedback": ["In Progress", "Feedback"],
            "Resolved": ["In Progress", "Resolved"],
            "Closed": ["In Progress", "Resolved", "Closed"],
            "Rejected": ["Rejected"],
        }[status]
        moment = created
        previous = "New"
        steps: list[str | None] = [*path]
        for _ in range(rng.choices((0, 1, 2), (50, 35, 15))[0]):
            steps.insert(rng.randint(0, len(steps)), None)  # a comment without a change
        for step in steps:
            moment += timedelta(hours=rng.randint(2, 200))
            details: list[dict[str, str | None]] = []
            if step is not None:
                details.append({"prop_key": "status_id", "old_value": previous, "value": step})
                previous = step
            notes = rng.choice(COMMENTS) if step is None or rng.random() < 0.5 else ""
            journals.append(
                Journal(
                    id=len(journals) + 1,
                    issue_id=number,
                    user_id=rng.choice(people).user_id,
                    notes=notes,
                    created_on=_stamp(moment),
                    details=details,
                )
            )
            if step in CLOSED_STATUSES:
                issue.closed_on = _stamp(moment)
        issue.status = status
        issue.updated_on = _stamp(moment)
        issue.done_ratio = {"Resolved": 90, "Closed": 100, "In Progress": 30}.get(status, 0)
        issues.append(issue)

    wikis: list[Wiki] = []
    wiki_pages: list[WikiPage] = []
    for project in projects:
        wiki = Wiki(len(wikis) + 1, project.id)
        wikis.append(wiki)
        people = team[project.id]
        start = WikiPage(
            id=len(wiki_pages) + 1,
            wiki_id=wiki.id,
            project_id=project.id,
            title="Wiki",
            text=(
                f"h1. {project.name}\n\n{project.description}\n\n"
                + "\n".join(f"* [[{title}|{title.replace('_', ' ')}]]" for title in WIKI_PAGES)
            ),
            author_id=people[0].user_id,
            parent_id=None,
            created_on=project.created_on,
        )
        wiki_pages.append(start)
        for title in WIKI_PAGES:
            fact, text = _wiki_fact(rng, title, project, people, users)
            wiki_pages.append(
                WikiPage(
                    id=len(wiki_pages) + 1,
                    wiki_id=wiki.id,
                    project_id=project.id,
                    title=title,
                    text=text,
                    author_id=rng.choice(people).user_id,
                    parent_id=start.id,
                    created_on=project.created_on,
                    fact=fact,
                )
            )

    attachments: list[Attachment] = []
    files: dict[str, bytes] = {}
    for issue in rng.sample(issues, max(10, n_issues // 20)):
        created = datetime.strptime(issue.created_on, "%Y-%m-%d %H:%M:%S")
        lines = [
            f"{_stamp(created + timedelta(seconds=k * 7))} ERROR {rng.choice(COMPONENTS)}: "
            f"{rng.choice(CONDITIONS)}"
            for k in range(rng.randint(5, 40))
        ]
        data = ("\n".join(lines) + "\n").encode()
        attachment = _attachment(len(attachments) + 1, issue, created, "error.log", data)
        attachment.content_type = "text/plain"
        attachments.append(attachment)
        files[f"{attachment.disk_directory}/{attachment.disk_filename}"] = data

    settings = {
        "app_title": "Redmine",
        "host_name": GOLDEN_HOST,
        "protocol": "http",
        "rest_api_enabled": "1",
        "login_required": "0",
        "default_language": "en",
        "per_page_options": "25,50,100",
    }
    return Content(
        seed=seed,
        scale=scale,
        admin=admin,
        users=users,
        projects=projects,
        members=members,
        categories=categories,
        versions=versions,
        issues=issues,
        journals=journals,
        wikis=wikis,
        wiki_pages=wiki_pages,
        attachments=attachments,
        settings=settings,
        files=files,
    )


def _wiki_fact(
    rng: random.Random, title: str, project: Project, people: list[Member], users: list[User]
) -> tuple[dict[str, str], str]:
    """The fact wiki page ``title`` of ``project`` states, and the page's textile."""
    if title == "Installation_Guide":
        fact = {
            "database": rng.choice(DATABASES),
            "port": str(rng.choice((8080, 8443, 9000, 3000, 5000, 8000))),
        }
        return fact, (
            f"h1. Installation Guide\n\n{project.name} needs {fact['database']}.\n\n"
            f"The staging server listens on port {fact['port']}."
        )
    if title == "Release_Process":
        manager_id = rng.choice(people).user_id
        manager = next(u.name for u in users if u.id == manager_id)
        fact = {"weekday": rng.choice(WEEKDAYS), "manager": manager}
        return fact, (
            f"h1. Release Process\n\nReleases ship every {fact['weekday']}.\n\n"
            f"Release manager: {manager}."
        )
    if title == "Coding_Standards":
        fact = {"tool": rng.choice(STYLE_TOOLS), "line_length": str(rng.choice((80, 88, 100)))}
        return fact, (
            f"h1. Coding Standards\n\nCode is formatted with {fact['tool']}; "
            f"lines are at most {fact['line_length']} characters long."
        )
    fact = {"attendees": str(rng.randint(3, 12))}
    return fact, f"h1. Meeting Notes\n\nThe kickoff had {fact['attendees']} attendees."


def _attachment(
    attachment_id: int, issue: Issue, created: datetime, filename: str, data: bytes | None
) -> Attachment:
    """An attachment row as Redmine names it on disk (``YYYY/MM/<timestamp>_<name>``)."""
    return Attachment(
        id=attachment_id,
        issue_id=issue.id,
        filename=filename,
        disk_directory=created.strftime("%Y/%m"),
        disk_filename=f"{created.strftime('%y%m%d%H%M%S')}_{attachment_id}_{filename}",
        filesize=len(data) if data is not None else 0,
        content_type="application/octet-stream",
        digest=hashlib.sha256(data).hexdigest() if data is not None else "",
        author_id=issue.author_id,
        description="",
        created_on=_stamp(created),
    )


def add_media(content: Content, files_dir: Path, media_mb: float, seed: int) -> None:
    """Attach ``media_mb`` MB of pseudo-random binary files to issues, written straight to
    ``files_dir`` (streamed: a golden of many GB never sits in memory)."""
    remaining = int(media_mb * (1 << 20))
    rng = random.Random(f"media-{seed}")
    number = 0
    while remaining > 0:
        number += 1
        size = min(MEDIA_FILE_BYTES, remaining)
        remaining -= size
        issue = content.issues[rng.randrange(len(content.issues))]
        created = datetime.strptime(issue.created_on, "%Y-%m-%d %H:%M:%S")
        attachment = _attachment(
            len(content.attachments) + 1, issue, created, f"capture-{number}.bin", None
        )
        path = files_dir / attachment.disk_directory / attachment.disk_filename
        path.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with path.open("wb") as out:
            left = size
            while left:
                chunk = rng.randbytes(min(left, 1 << 20))
                digest.update(chunk)
                out.write(chunk)
                left -= len(chunk)
        attachment.filesize = size
        attachment.digest = digest.hexdigest()
        content.attachments.append(attachment)


def write_seed(out: Path, seed: int, scale: float, media_mb: float = 0) -> Content:
    """Write the seed input into the data dir ``out``: ``seed/content.json`` and the
    attachment files at their place under ``files/``."""
    content = generate(seed, scale)
    files_dir = out / "files"
    for rel, data in content.files.items():
        path = files_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    if media_mb:
        add_media(content, files_dir, media_mb, seed)
    (out / "seed").mkdir(parents=True, exist_ok=True)
    (out / "seed" / "content.json").write_text(json.dumps(content.to_json()))
    return content
