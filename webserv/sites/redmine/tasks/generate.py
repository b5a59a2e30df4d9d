"""Generate the Redmine suite's ``tasks.json`` from the content of the manifest's golden.

The answers and expected states come from :func:`webserv.sites.redmine.content.generate`
with the seed and scale of ``suite.json`` (the data the seed loads), so they are right by
construction. Tasks on ``redmine`` sign in as the admin, on ``redmine_user`` as an ordinary
project member. Run it again whenever the content generator or the suite changes::

    python -m webserv.sites.redmine.tasks.generate
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from webserv.sites.redmine.content import (
    CLOSED_STATUSES,
    PRIORITIES,
    STATUSES,
    TRACKERS,
    Content,
    Issue,
    Project,
    generate,
)
from webserv.tasks.authoring import Task, task

HERE = Path(__file__).parent
ADMIN = "redmine"
USER = "redmine_user"
PLACEHOLDER = {ADMIN: "__REDMINE__", USER: "__REDMINE_USER__"}
PER_TEMPLATE = 3
#: Redmine's default data creates trackers in this order, so their ids follow it.
TRACKER_IDS = {name: index + 1 for index, name in enumerate(TRACKERS)}
NOTES = (
    "Reproduced with the nightly build (ticket {n}).",
    "Escalated to the on-call engineer (ticket {n}).",
    "Waiting for the customer's logs (ticket {n}).",
    "Fix scheduled for the next sprint (ticket {n}).",
)
NEW_SUBJECTS = (
    "Audit the {c} for accessibility ({n})",
    "Document the {c} limits ({n})",
    "Measure the {c} latency ({n})",
)

Template = Callable[[Content, random.Random], Iterator[Task]]
TEMPLATES: list[tuple[int, Template]] = []


def template(template_id: int) -> Callable[[Template], Template]:
    def register(fn: Template) -> Template:
        TEMPLATES.append((template_id, fn))
        return fn

    return register


def answer(must_include: list[str]) -> dict[str, Any]:
    return {"eval_types": ["string_match"], "reference_answers": {"must_include": must_include}}


def q(text: str) -> str:
    """``text`` as a double-quoted string of the action grammar."""
    return json.dumps(text)


def ref(role: str, name: str) -> str:
    """An element named as the observation shows it, e.g. ``link "Edit"``."""
    return q(f"{role} {json.dumps(name)}")


def goto(site: str, path: str) -> str:
    return f"goto({q(PLACEHOLDER[site] + path)})"


def stop(text: str = "") -> str:
    return f"stop({q(text)})" if text else "stop()"


def helper_check(site: str, url: str, expression: str, contents: dict[str, Any]) -> dict:
    return {
        "eval_types": ["program_html"],
        "program_html": [
            {
                "url": PLACEHOLDER[site] + url,
                "locator": f"func:{expression}",
                "required_contents": contents,
            }
        ],
    }


# -- what the tasks are about ---------------------------------------------------------------


def leaf_projects(content: Content) -> list[Project]:
    """Projects without subprojects: their overview counts only their own issues."""
    parents = {p.parent_id for p in content.projects}
    return [p for p in content.projects if p.id not in parents]


def user_projects(content: Content) -> list[Project]:
    """Projects the ordinary login user is a member of."""
    login = content.users[0].id
    mine = {m.project_id for m in content.members if m.user_id == login}
    return [p for p in content.projects if p.id in mine]


def public_projects(content: Content) -> list[Project]:
    return [p for p in content.projects if p.is_public]


def issues_where(
    content: Content, rng: random.Random, keep: Callable[[Issue], bool]
) -> list[Issue]:
    return rng.sample([i for i in content.issues if keep(i)], PER_TEMPLATE)


def assignable(content: Content, project_id: int) -> list[int]:
    """Members Redmine lets an issue be assigned to (Manager and Developer roles)."""
    return [
        m.user_id for m in content.members_of(project_id) if set(m.roles) & {"Manager", "Developer"}
    ]


def wiki_fact(content: Content, project: Project, title: str) -> dict[str, str]:
    return next(
        page.fact
        for page in content.wiki_pages
        if page.project_id == project.id and page.title == title
    )


# -- information seeking --------------------------------------------------------------------


@template(1)
def issue_assignee(content: Content, rng: random.Random) -> Iterator[Task]:
    for issue in issues_where(content, rng, lambda i: i.assigned_to_id is not None):
        name = content.user(issue.assigned_to_id or 0).name
        yield task(
            site=ADMIN,
            start_url=PLACEHOLDER[ADMIN],
            intent_template="Who is assigned to issue #{{id}}?",
            values={"id": issue.id},
            evaluation=answer([name]),
            solution=[goto(ADMIN, f"/issues/{issue.id}"), stop(name)],
        )


@template(2)
def issue_status(content: Content, rng: random.Random) -> Iterator[Task]:
    mine = {p.id for p in user_projects(content)}
    for issue in issues_where(content, rng, lambda i: i.project_id in mine):
        project = content.project(issue.project_id)
        yield task(
            site=USER,
            start_url=f"{PLACEHOLDER[USER]}/projects/{project.identifier}/issues",
            intent_template="What is the status of issue #{{id}}?",
            values={"id": issue.id},
            evaluation=answer([issue.status]),
            solution=[goto(USER, f"/issues/{issue.id}"), stop(issue.status)],
        )


@template(3)
def issue_priority(content: Content, rng: random.Random) -> Iterator[Task]:
    for issue in issues_where(content, rng, lambda i: True):
        yield task(
            site=ADMIN,
            start_url=f"{PLACEHOLDER[ADMIN]}/issues",
            intent_template="What is the priority of issue #{{id}}?",
            values={"id": issue.id},
            evaluation=answer([issue.priority]),
            solution=[goto(ADMIN, f"/issues/{issue.id}"), stop(issue.priority)],
        )


@template(4)
def issue_category(content: Content, rng: random.Random) -> Iterator[Task]:
    names = {c.id: c.name for c in content.categories}
    for issue in issues_where(content, rng, lambda i: i.category_id is not None):
        category = names[issue.category_id or 0]
        yield task(
            site=ADMIN,
            start_url=PLACEHOLDER[ADMIN],
            intent_template="Which category is issue #{{id}} filed under?",
            values={"id": issue.id},
            evaluation=answer([category]),
            solution=[goto(ADMIN, f"/issues/{issue.id}"), stop(category)],
        )


@template(5)
def open_tracker_count(content: Content, rng: random.Random) -> Iterator[Task]:
    for project in rng.sample(leaf_projects(content), PER_TEMPLATE):
        tracker = rng.choice(TRACKERS)
        count = sum(
            1
            for i in content.issues_of(project.id)
            if i.tracker == tracker and i.status not in CLOSED_STATUSES
        )
        yield task(
            site=ADMIN,
            start_url=f"{PLACEHOLDER[ADMIN]}/projects",
            intent_template="How many open {{tracker}} issues does the project {{project}} have?",
            values={"tracker": tracker, "project": project.name},
            evaluation=answer([str(count)]),
            solution=[goto(ADMIN, f"/projects/{project.identifier}"), stop(str(count))],
        )


@template(6)
def project_manager(content: Content, rng: random.Random) -> Iterator[Task]:
    for project in rng.sample(public_projects(content), PER_TEMPLATE):
        managers = [m for m in content.members_of(project.id) if "Manager" in m.roles]
        name = content.user(managers[0].user_id).name
        yield task(
            site=USER,
            start_url=f"{PLACEHOLDER[USER]}/projects",
            intent_template="Who is the Manager of the project {{project}}?",
            values={"project": project.name},
            evaluation=answer([name]),
            solution=[goto(USER, f"/projects/{project.identifier}"), stop(name)],
        )


@template(7)
def staging_port(content: Content, rng: random.Random) -> Iterator[Task]:
    for project in rng.sample(content.projects, PER_TEMPLATE):
        port = wiki_fact(content, project, "Installation_Guide")["port"]
        yield task(
            site=ADMIN,
            start_url=f"{PLACEHOLDER[ADMIN]}/projects/{project.identifier}",
            intent_template=(
                "According to the wiki of {{project}}, on which port does its staging "
                "server listen?"
            ),
            values={"project": project.name},
            evaluation=answer([port]),
            solution=[
                f"click({ref('link', 'Wiki')})",
                f"click({ref('link', 'Installation Guide')})",
                stop(port),
            ],
        )


@template(8)
def release_manager(content: Content, rng: random.Random) -> Iterator[Task]:
    for project in rng.sample(public_projects(content), PER_TEMPLATE):
        manager = wiki_fact(content, project, "Release_Process")["manager"]
        yield task(
            site=USER,
            start_url=f"{PLACEHOLDER[USER]}/projects/{project.identifier}/wiki",
            intent_template="Who is the release manager of {{project}}, according to its wiki?",
            values={"project": project.name},
            evaluation=answer([manager]),
            solution=[f"click({ref('link', 'Release Process')})", stop(manager)],
        )


@template(9)
def style_tool(content: Content, rng: random.Random) -> Iterator[Task]:
    for project in rng.sample(content.projects, PER_TEMPLATE):
        tool = wiki_fact(content, project, "Coding_Standards")["tool"]
        yield task(
            site=ADMIN,
            start_url=f"{PLACEHOLDER[ADMIN]}/projects/{project.identifier}/wiki",
            intent_template="Which tool formats the code of {{project}}, per its coding standards?",
            values={"project": project.name},
            evaluation=answer([tool]),
            solution=[f"click({ref('link', 'Coding Standards')})", stop(tool)],
        )


# -- navigation -----------------------------------------------------------------------------


@template(20)
def open_tracker_list(content: Content, rng: random.Random) -> Iterator[Task]:
    for project in rng.sample(content.projects, PER_TEMPLATE):
        tracker = rng.choice(TRACKERS)
        path = f"/projects/{project.identifier}/issues?tracker_id={TRACKER_IDS[tracker]}"
        yield task(
            site=ADMIN,
            start_url=f"{PLACEHOLDER[ADMIN]}/projects/{project.identifier}",
            intent_template="Show me the open {{tracker}} issues of {{project}}.",
            values={"tracker": tracker, "project": project.name},
            evaluation={"eval_types": ["url_match"], "reference_url": PLACEHOLDER[ADMIN] + path},
            solution=[f"click({ref('link', tracker)})", stop()],
        )


@template(21)
def open_wiki_page(content: Content, rng: random.Random) -> Iterator[Task]:
    for project in rng.sample(public_projects(content), PER_TEMPLATE):
        title = rng.choice(("Installation_Guide", "Release_Process", "Coding_Standards"))
        path = f"/projects/{project.identifier}/wiki/{title}"
        yield task(
            site=USER,
            start_url=f"{PLACEHOLDER[USER]}/projects/{project.identifier}",
            intent_template="Open the {{page}} page of the {{project}} wiki.",
            values={"page": title.replace("_", " "), "project": project.name},
            evaluation={"eval_types": ["url_match"], "reference_url": PLACEHOLDER[USER] + path},
            solution=[
                f"click({ref('link', 'Wiki')})",
                f"click({ref('link', title.replace('_', ' '))})",
                stop(),
            ],
        )


@template(22)
def open_roadmap(content: Content, rng: random.Random) -> Iterator[Task]:
    for project in rng.sample(content.projects, PER_TEMPLATE):
        path = f"/projects/{project.identifier}/roadmap"
        yield task(
            site=ADMIN,
            start_url=f"{PLACEHOLDER[ADMIN]}/projects/{project.identifier}",
            intent_template="Show the roadmap of {{project}}.",
            values={"project": project.name},
            evaluation={"eval_types": ["url_match"], "reference_url": PLACEHOLDER[ADMIN] + path},
            solution=[f"click({ref('link', 'Roadmap')})", stop()],
        )


# -- state changes --------------------------------------------------------------------------


@template(40)
def set_status(content: Content, rng: random.Random) -> Iterator[Task]:
    for issue in issues_where(content, rng, lambda i: True):
        status = rng.choice([s for s in STATUSES if s != issue.status])
        yield task(
            site=ADMIN,
            start_url=f"{PLACEHOLDER[ADMIN]}/issues",
            intent_template="Set the status of issue #{{id}} to {{status}}.",
            values={"id": issue.id, "status": status},
            evaluation=helper_check(
                ADMIN,
                f"/issues/{issue.id}",
                f"redmine_issue_field({issue.id}, 'status')",
                {"exact_match": status},
            ),
            solution=[
                goto(ADMIN, f"/issues/{issue.id}"),
                f"click({ref('link', 'Edit')})",
                f"select({ref('combobox', 'Status *')}, {q(status)})",
                f"click({ref('button', 'Submit')})",
                stop(),
            ],
        )


@template(41)
def assign_issue(content: Content, rng: random.Random) -> Iterator[Task]:
    for issue in issues_where(content, rng, lambda i: True):
        choices = [u for u in assignable(content, issue.project_id) if u != issue.assigned_to_id]
        name = content.user(rng.choice(choices)).name
        yield task(
            site=ADMIN,
            start_url=PLACEHOLDER[ADMIN],
            intent_template="Assign issue #{{id}} to {{name}}.",
            values={"id": issue.id, "name": name},
            evaluation=helper_check(
                ADMIN,
                f"/issues/{issue.id}",
                f"redmine_issue_field({issue.id}, 'assigned_to')",
                {"exact_match": name},
            ),
            solution=[
                goto(ADMIN, f"/issues/{issue.id}"),
                f"click({ref('link', 'Edit')})",
                f"select({ref('combobox', 'Assignee')}, {q(name)})",
                f"click({ref('button', 'Submit')})",
                stop(),
            ],
        )


@template(42)
def set_priority(content: Content, rng: random.Random) -> Iterator[Task]:
    for issue in issues_where(content, rng, lambda i: True):
        priority = rng.choice([p for p in PRIORITIES if p != issue.priority])
        yield task(
            site=ADMIN,
            start_url=PLACEHOLDER[ADMIN],
            intent_template="Change the priority of issue #{{id}} to {{priority}}.",
            values={"id": issue.id, "priority": priority},
            evaluation={
                "eval_types": ["program_html"],
                "program_html": [
                    {
                        "url": f"{PLACEHOLDER[ADMIN]}/issues/{issue.id}",
                        "locator": "document.querySelector('.priority.attribute .value').innerText",
                        "required_contents": {"exact_match": priority},
                    }
                ],
            },
            solution=[
                goto(ADMIN, f"/issues/{issue.id}"),
                f"click({ref('link', 'Edit')})",
                f"select({ref('combobox', 'Priority *')}, {q(priority)})",
                f"click({ref('button', 'Submit')})",
                stop(),
            ],
        )


@template(43)
def add_note(content: Content, rng: random.Random) -> Iterator[Task]:
    mine = {p.id for p in user_projects(content)}
    for issue in issues_where(content, rng, lambda i: i.project_id in mine):
        note = rng.choice(NOTES).format(n=rng.randint(1000, 9999))
        yield task(
            site=USER,
            start_url=f"{PLACEHOLDER[USER]}/projects/{content.project(issue.project_id).identifier}"
            "/issues",
            intent_template='Add the note "{{note}}" to issue #{{id}}.',
            values={"note": note, "id": issue.id},
            evaluation=helper_check(
                USER,
                f"/issues/{issue.id}",
                f"redmine_issue_notes({issue.id})",
                {"must_include": [note]},
            ),
            solution=[
                goto(USER, f"/issues/{issue.id}"),
                # Redmine's notes field has no label; "Edit" shows and focuses it.
                f"click({ref('link', 'Edit')})",
                f"type({q('textbox focused')}, {q(note)})",
                f"click({ref('button', 'Submit')})",
                stop(),
            ],
        )


@template(44)
def add_member(content: Content, rng: random.Random) -> Iterator[Task]:
    for project in rng.sample(content.projects, PER_TEMPLATE):
        members = {m.user_id for m in content.members_of(project.id)}
        # Early in the alphabetical list of the "New member" dialog, which shows 100.
        outsiders = sorted(
            (u for u in content.users if u.id not in members),
            key=lambda u: (u.firstname, u.lastname),
        )[:40]
        user = rng.choice(outsiders)
        role = rng.choice(("Developer", "Reporter"))
        yield task(
            site=ADMIN,
            start_url=f"{PLACEHOLDER[ADMIN]}/projects/{project.identifier}",
            intent_template="Add {{name}} to the project {{project}} with the role {{role}}.",
            values={"name": user.name, "project": project.name, "role": role},
            evaluation=helper_check(
                ADMIN,
                f"/projects/{project.identifier}/settings/members",
                f"redmine_member_roles('{project.identifier}', '{user.login}')",
                {"exact_match": role},
            ),
            solution=[
                goto(ADMIN, f"/projects/{project.identifier}/settings/members"),
                f"click({ref('link', 'New member')})",
                f"click({ref('checkbox', user.name)})",
                f"click({ref('checkbox', role)})",
                f"click({ref('button', 'Add')})",
                stop(),
            ],
        )


@template(45)
def edit_meeting_notes(content: Content, rng: random.Random) -> Iterator[Task]:
    for project in rng.sample(content.projects, PER_TEMPLATE):
        page = next(
            p
            for p in content.wiki_pages
            if p.project_id == project.id and p.title == "Meeting_Notes"
        )
        old = page.fact["attendees"]
        new = str(int(old) + rng.randint(1, 5))
        text = f"h1. Meeting Notes\n\nThe kickoff had {new} attendees."
        shown = " ".join(page.text.split())
        yield task(
            site=ADMIN,
            start_url=f"{PLACEHOLDER[ADMIN]}/projects/{project.identifier}/wiki/Meeting_Notes",
            intent_template=(
                "Correct the Meeting Notes wiki page of {{project}}: the kickoff had "
                "{{new}} attendees, not {{old}}."
            ),
            values={"project": project.name, "new": new, "old": old},
            evaluation=helper_check(
                ADMIN,
                f"/projects/{project.identifier}/wiki/Meeting_Notes",
                f"redmine_wiki_text('{project.identifier}', 'Meeting_Notes')",
                {"must_include": [f"kickoff had {new} attendees"]},
            ),
            solution=[
                goto(ADMIN, f"/projects/{project.identifier}/wiki/Meeting_Notes/edit"),
                f"type({q(f'textbox value={json.dumps(shown)}')}, {q(text)})",
                f"click({ref('button', 'Save')})",
                stop(),
            ],
        )


@template(46)
def create_issue(content: Content, rng: random.Random) -> Iterator[Task]:
    for project in rng.sample(content.projects, PER_TEMPLATE):
        tracker = rng.choice(TRACKERS)
        component = rng.choice(("export job", "search index", "dashboard", "audit log"))
        subject = rng.choice(NEW_SUBJECTS).format(c=component, n=rng.randint(100, 999))
        yield task(
            site=ADMIN,
            start_url=f"{PLACEHOLDER[ADMIN]}/projects/{project.identifier}",
            intent_template=(
                'Create a {{tracker}} issue in {{project}} with the subject "{{subject}}".'
            ),
            values={"tracker": tracker, "project": project.name, "subject": subject},
            evaluation={
                "eval_types": ["program_html"],
                "program_html": [
                    {
                        "url": f"{PLACEHOLDER[ADMIN]}/projects/{project.identifier}/issues",
                        "locator": f"func:redmine_latest_issue('{project.identifier}')",
                        "required_contents": {"must_include": [subject]},
                    },
                    {
                        "url": "last",
                        "locator": "document.querySelector('#content h2').innerText",
                        "required_contents": {"must_include": [tracker]},
                    },
                ],
            },
            solution=[
                goto(ADMIN, f"/projects/{project.identifier}/issues/new"),
                f"select({ref('combobox', 'Tracker *')}, {q(tracker)})",
                f"type({ref('textbox', 'Subject *')}, {q(subject)})",
                f"click({ref('button', 'Create')})",
                stop(),
            ],
        )


def build(content: Content, seed: int = 0) -> list[Task]:
    """Every template's tasks, numbered in template order."""
    rng = random.Random(seed)
    tasks: list[Task] = []
    for template_id, fn in TEMPLATES:
        for made in fn(content, rng):
            tasks.append({"task_id": len(tasks), "intent_template_id": template_id, **made})
    return tasks


def main() -> None:
    suite = json.loads((HERE / "suite.json").read_text())
    params = suite["golden"]["redmine"]
    content = generate(seed=int(params["seed"]), scale=float(params["scale"]))
    tasks = build(content)
    (HERE / "tasks.json").write_text(json.dumps(tasks, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(tasks)} tasks over {len(TEMPLATES)} templates")


if __name__ == "__main__":
    main()
