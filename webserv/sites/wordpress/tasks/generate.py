"""Generate the WordPress suite's ``tasks.json`` from the content of the suite's golden.

Every reference answer, id and expected state is computed from :func:`generate` with the
golden parameters of ``suite.json`` (the content the seed loads), so the answers are right
by construction. Run it again whenever the content generator or the screens change::

    python -m webserv.sites.wordpress.tasks.generate
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from webserv.sites.wordpress.content import AUTHOR_LOGIN, Comment, Content, Post, generate
from webserv.tasks.authoring import Task, task

HERE = Path(__file__).parent
ADMIN = "__WORDPRESS__"
AUTHOR = "__WORDPRESS_AUTHOR__"
PER_TEMPLATE = 3
MONTHS = (
    "January February March April May June July August September October November December"
).split()
ROLE_NAMES = {
    "administrator": "Administrator",
    "editor": "Editor",
    "author": "Author",
    "contributor": "Contributor",
    "subscriber": "Subscriber",
}

Template = Callable[[Content, random.Random], Iterator[Task]]
TEMPLATES: list[tuple[int, Template]] = []


def template(template_id: int) -> Callable[[Template], Template]:
    def register(fn: Template) -> Template:
        TEMPLATES.append((template_id, fn))
        return fn

    return register


def answer(value: str) -> dict[str, Any]:
    return {"eval_types": ["string_match"], "reference_answers": {"must_include": [value]}}


def url_check(url: str) -> dict[str, Any]:
    return {"eval_types": ["url_match"], "reference_url": url}


def state_check(url: str, locator: str, kind: str, value: str) -> dict[str, Any]:
    refs: Any = [value] if kind == "must_include" else value
    return {
        "eval_types": ["program_html"],
        "program_html": [{"url": url, "locator": locator, "required_contents": {kind: refs}}],
    }


def q(text: str) -> str:
    """A string literal for an action."""
    return json.dumps(text, ensure_ascii=False)


def el(role: str, name: str) -> str:
    """An element named as the observation shows it (``button "Publish"``), as a string
    literal; the reference policy turns it into the element's id."""
    return json.dumps(f"{role} {json.dumps(name, ensure_ascii=False)}", ensure_ascii=False)


def sample(rng: random.Random, rows: list[Any], n: int = PER_TEMPLATE) -> list[Any]:
    return rng.sample(rows, min(n, len(rows)))


def long_date(stamp: str) -> str:
    """A ``YYYY-MM-DD ...`` stamp as the site writes dates (``F j, Y``)."""
    year, month, day = stamp[:10].split("-")
    return f"{MONTHS[int(month) - 1]} {int(day)}, {year}"


def published_posts(content: Content) -> list[Post]:
    return [p for p in content.posts if p.type == "post" and p.status == "publish"]


def approved_counts(content: Content) -> Counter[int]:
    return Counter(c.post for c in content.comments if c.status == "1")


def search_posts(title: str) -> str:
    return f"type({el('searchbox', 'Search Posts:')}, {q(title)}, submit=True)"


def search_users(name: str) -> str:
    return f"type({el('searchbox', 'Search Users:')}, {q(name)}, submit=True)"


def lone_pending(content: Content) -> list[Comment]:
    """Pending comments that are the only pending one of their post (one Approve button)."""
    pending = [c for c in content.comments if c.status == "0"]
    per_post = Counter(c.post for c in pending)
    return [c for c in pending if per_post[c.post] == 1]


# ---- information seeking ----------------------------------------------------------------


@template(1)
def approved_comment_count(content: Content, rng: random.Random) -> Iterator[Task]:
    counts = approved_counts(content)
    for post in sample(rng, [p for p in published_posts(content) if counts[p.id] > 1]):
        n = str(counts[post.id])
        yield task(
            site="wordpress",
            start_url=f"{ADMIN}/wp-admin/edit.php",
            intent_template="How many approved comments does the post “{{title}}” have?",
            values={"title": post.title},
            evaluation=answer(n),
            solution=[search_posts(post.title), f"stop({q(n)})"],
        )


@template(2)
def post_author(content: Content, rng: random.Random) -> Iterator[Task]:
    for post in sample(rng, published_posts(content)):
        name = content.user(post.author).display_name
        yield task(
            site="wordpress",
            start_url=f"{ADMIN}/",
            intent_template="Who wrote the blog post “{{title}}”?",
            values={"title": post.title},
            evaluation=answer(name),
            solution=[
                f"type({el('searchbox', 'Search')}, {q(post.title)}, submit=True)",
                f"click({el('link', post.title)})",
                f"stop({q(name)})",
            ],
        )


@template(3)
def post_category(content: Content, rng: random.Random) -> Iterator[Task]:
    single = [p for p in published_posts(content) if len(p.categories) == 1]
    for post in sample(rng, single):
        category = content.term(post.categories[0]).name
        yield task(
            site="wordpress",
            start_url=f"{ADMIN}/wp-admin/edit.php",
            intent_template="Which category is the post “{{title}}” filed under?",
            values={"title": post.title},
            evaluation=answer(category),
            solution=[search_posts(post.title), f"stop({q(category)})"],
        )


@template(4)
def publish_date(content: Content, rng: random.Random) -> Iterator[Task]:
    for post in sample(rng, published_posts(content)):
        day = long_date(post.date)
        yield task(
            site="wordpress",
            start_url=f"{ADMIN}/?p={post.id}",
            intent_template="On what date was the post “{{title}}” published?",
            values={"title": post.title},
            evaluation=answer(day),
            solution=[f"stop({q(day)})"],
        )


@template(5)
def category_post_count(content: Content, rng: random.Random) -> Iterator[Task]:
    # WordPress counts a category's published posts, as the question does.
    counts = Counter(c for p in published_posts(content) for c in p.categories)
    categories = [t for t in content.terms if t.taxonomy == "category"]
    for term in sample(rng, categories):
        n = str(counts[term.id])
        yield task(
            site="wordpress",
            start_url=f"{ADMIN}/wp-admin/",
            intent_template="How many published posts are in the category “{{category}}”?",
            values={"category": term.name},
            evaluation=answer(n),
            solution=[
                f"click({el('link', 'Categories')})",
                f"stop({q(n)})",
            ],
        )


@template(6)
def user_email(content: Content, rng: random.Random) -> Iterator[Task]:
    for user in sample(rng, content.users[1:]):
        yield task(
            site="wordpress",
            start_url=f"{ADMIN}/wp-admin/users.php",
            intent_template="What is the email address of the user {{name}}?",
            values={"name": user.display_name},
            evaluation=answer(user.email),
            solution=[search_users(user.display_name), f"stop({q(user.email)})"],
        )


@template(7)
def user_role(content: Content, rng: random.Random) -> Iterator[Task]:
    for user in sample(rng, content.users[1:]):
        role = ROLE_NAMES[user.role]
        yield task(
            site="wordpress",
            start_url=f"{ADMIN}/wp-admin/users.php",
            intent_template="What role does {{name}} have on the site?",
            values={"name": user.display_name},
            evaluation=answer(role),
            solution=[search_users(user.display_name), f"stop({q(role)})"],
        )


@template(8)
def author_published_count(content: Content, rng: random.Random) -> Iterator[Task]:
    del rng
    author = next(u for u in content.users if u.login == AUTHOR_LOGIN)
    mine = [p for p in content.posts if p.author == author.id and p.type == "post"]
    for status, label in (("publish", "published"), ("draft", "draft"), ("pending", "pending")):
        n = str(sum(1 for p in mine if p.status == status))
        yield task(
            site="wordpress_author",
            start_url=f"{AUTHOR}/wp-admin/",
            intent_template="How many {{status}} posts of your own do you have?",
            values={"status": label},
            evaluation=answer(n),
            solution=[
                f"goto({q(f'{AUTHOR}/wp-admin/edit.php?post_status={status}&author={author.id}')})",
                f"stop({q(n)})",
            ],
        )


# ---- navigation -------------------------------------------------------------------------


@template(9)
def open_post_editor(content: Content, rng: random.Random) -> Iterator[Task]:
    for post in sample(rng, published_posts(content)):
        yield task(
            site="wordpress",
            start_url=f"{ADMIN}/wp-admin/edit.php",
            intent_template="Open the editing screen of the post “{{title}}”.",
            values={"title": post.title},
            evaluation=url_check(f"{ADMIN}/wp-admin/post.php?post={post.id}&action=edit"),
            solution=[
                search_posts(post.title),
                f"click({el('link', f'“{post.title}” (Edit)')})",
                "stop()",
            ],
        )


@template(10)
def category_archive(content: Content, rng: random.Random) -> Iterator[Task]:
    single = [p for p in published_posts(content) if len(p.categories) == 1]
    seen: set[int] = set()
    for post in rng.sample(single, len(single)):
        term = content.term(post.categories[0])
        if term.id in seen:
            continue
        seen.add(term.id)
        yield task(
            site="wordpress",
            start_url=f"{ADMIN}/?p={post.id}",
            intent_template="Go to the blog's archive of the category “{{category}}”.",
            values={"category": term.name},
            evaluation=url_check(f"{ADMIN}/?cat={term.id}"),
            solution=[f"click({el('link', term.name)})", "stop()"],
        )
        if len(seen) == PER_TEMPLATE:
            return


@template(11)
def open_user_profile(content: Content, rng: random.Random) -> Iterator[Task]:
    for user in sample(rng, content.users[1:]):
        yield task(
            site="wordpress",
            start_url=f"{ADMIN}/wp-admin/users.php",
            intent_template="Open the screen where the profile of {{name}} is edited.",
            values={"name": user.display_name},
            evaluation=url_check(f"{ADMIN}/wp-admin/user-edit.php?user_id={user.id}"),
            solution=[
                search_users(user.display_name),
                f"click({el('link', user.login)})",
                "stop()",
            ],
        )


# ---- state changes ----------------------------------------------------------------------


def post_status_check(post_id: int, status: str) -> dict[str, Any]:
    return state_check("last", f"func:wordpress_post_status({post_id})", "exact_match", status)


def comment_status_check(comment_id: int, status: str) -> dict[str, Any]:
    return state_check(
        "last", f"func:wordpress_comment_status({comment_id})", "exact_match", status
    )


@template(12)
def publish_draft(content: Content, rng: random.Random) -> Iterator[Task]:
    drafts = [p for p in content.posts if p.type == "post" and p.status == "draft"]
    for post in sample(rng, drafts):
        yield task(
            site="wordpress",
            start_url=f"{ADMIN}/wp-admin/edit.php?post_status=draft&post_type=post",
            intent_template="Publish the draft post “{{title}}”.",
            values={"title": post.title},
            evaluation=post_status_check(post.id, "publish"),
            solution=[
                search_posts(post.title),
                f"click({el('link', f'“{post.title}” (Edit)')})",
                f"click({el('button', 'Publish')})",
                "stop()",
            ],
        )


def moderate(
    content: Content,
    comments: list[Comment],
    button: str,
    verb: str,
    status: str,
) -> Iterator[Task]:
    for comment in comments:
        post = content.post(comment.post)
        yield task(
            site="wordpress",
            start_url=f"{ADMIN}/wp-admin/edit-comments.php",
            intent_template=(
                f"{verb} the comment awaiting moderation by {{{{author}}}} on the post "
                "“{{title}}”."
            ),
            values={"author": comment.author, "title": post.title},
            evaluation=comment_status_check(comment.id, status),
            solution=[
                f"goto({q(f'{ADMIN}/wp-admin/edit-comments.php?comment_status=moderated&p={post.id}')})",
                f"click({el('button', button)})",
                "stop()",
            ],
        )


@template(13)
def approve_comment(content: Content, rng: random.Random) -> Iterator[Task]:
    picked = sample(rng, lone_pending(content), 3 * PER_TEMPLATE)
    yield from moderate(
        content, picked[:PER_TEMPLATE], "Approve this comment", "Approve", "approved"
    )


@template(14)
def spam_comment(content: Content, rng: random.Random) -> Iterator[Task]:
    picked = sample(rng, lone_pending(content), 3 * PER_TEMPLATE)
    yield from moderate(
        content,
        picked[PER_TEMPLATE : 2 * PER_TEMPLATE],
        "Mark this comment as spam",
        "Mark as spam",
        "spam",
    )


@template(15)
def trash_comment(content: Content, rng: random.Random) -> Iterator[Task]:
    picked = sample(rng, lone_pending(content), 3 * PER_TEMPLATE)
    yield from moderate(
        content,
        picked[2 * PER_TEMPLATE :],
        "Move this comment to the Trash",
        "Move to the trash",
        "trash",
    )


@template(16)
def change_role(content: Content, rng: random.Random) -> Iterator[Task]:
    users = [u for u in content.users if u.role in ("author", "contributor", "subscriber")]
    for user in sample(rng, users):
        yield task(
            site="wordpress",
            start_url=f"{ADMIN}/wp-admin/users.php",
            intent_template="Give {{name}} the Editor role.",
            values={"name": user.display_name},
            evaluation=state_check(
                "last", f"func:wordpress_user_role({user.login!r})", "exact_match", "editor"
            ),
            solution=[
                search_users(user.display_name),
                f"click({el('link', user.login)})",
                f"select({el('combobox', 'Role')}, 'Editor')",
                f"click({el('button', 'Update User')})",
                "stop()",
            ],
        )


NEW_TITLES = [
    "Harbour lights return for the winter",
    "The market moves to the pier",
    "A new roof for the old chapel",
    "Seal pups spotted near the lighthouse",
]


@template(17)
def rename_post(content: Content, rng: random.Random) -> Iterator[Task]:
    posts = sample(rng, published_posts(content))
    for post, new_title in zip(posts, rng.sample(NEW_TITLES, len(posts)), strict=True):
        yield task(
            site="wordpress",
            start_url=f"{ADMIN}/wp-admin/edit.php",
            intent_template="Rename the post “{{title}}” to “{{new_title}}”.",
            values={"title": post.title, "new_title": new_title},
            # Read off the published page, as a reader would see it.
            evaluation=state_check(
                f"{ADMIN}/?p={post.id}",
                "document.querySelector('h1.entry-title').innerText",
                "exact_match",
                new_title,
            ),
            solution=[
                search_posts(post.title),
                f"click({el('link', f'“{post.title}” (Edit)')})",
                f"type({el('textbox', 'Add title')}, {q(new_title)})",
                f"click({el('button', 'Update')})",
                "stop()",
            ],
        )


NEW_TAGS = ["kayaking", "lobster pots", "sea glass", "tide tables", "storm watch"]


@template(18)
def create_tag(content: Content, rng: random.Random) -> Iterator[Task]:
    del content
    for name in rng.sample(NEW_TAGS, PER_TEMPLATE):
        yield task(
            site="wordpress",
            start_url=f"{ADMIN}/wp-admin/",
            intent_template="Create a new post tag named “{{tag}}”.",
            values={"tag": name},
            # The tags screen's own list, searched for the name.
            evaluation=state_check(
                f"{ADMIN}/wp-admin/edit-tags.php?taxonomy=post_tag&s={quote_plus(name)}",
                "document.querySelector('#the-list').innerText",
                "must_include",
                name,
            ),
            solution=[
                f"goto({q(f'{ADMIN}/wp-admin/edit-tags.php?taxonomy=post_tag')})",
                f"type({el('textbox', 'Name')}, {q(name)})",
                f"click({el('button', 'Add New Tag')})",
                "stop()",
            ],
        )


NEW_TAGLINES = [
    "News and stories from Harbor Lane",
    "Where the tide sets the timetable",
    "A town paper for the digital age",
    "Small town, big harbour",
]


@template(19)
def change_tagline(content: Content, rng: random.Random) -> Iterator[Task]:
    del content
    for tagline in rng.sample(NEW_TAGLINES, PER_TEMPLATE):
        yield task(
            site="wordpress",
            start_url=f"{ADMIN}/wp-admin/",
            intent_template="Change the site's tagline to “{{tagline}}”.",
            values={"tagline": tagline},
            evaluation=state_check(
                "last", "func:wordpress_setting('description')", "exact_match", tagline
            ),
            solution=[
                f"goto({q(f'{ADMIN}/wp-admin/options-general.php')})",
                f"type({el('textbox', 'Tagline')}, {q(tagline)})",
                f"click({el('button', 'Save Changes')})",
                "stop()",
            ],
        )


@template(20)
def trash_post(content: Content, rng: random.Random) -> Iterator[Task]:
    for post in sample(rng, published_posts(content)):
        yield task(
            site="wordpress",
            start_url=f"{ADMIN}/wp-admin/edit.php",
            intent_template="Move the post “{{title}}” to the Trash.",
            values={"title": post.title},
            evaluation=post_status_check(post.id, "trash"),
            solution=[
                search_posts(post.title),
                f"click({el('link', f'Move “{post.title}” to the Trash')})",
                "stop()",
            ],
        )


@template(21)
def author_publish_own(content: Content, rng: random.Random) -> Iterator[Task]:
    author = next(u for u in content.users if u.login == AUTHOR_LOGIN)
    drafts = [p for p in content.posts if p.author == author.id and p.status == "draft"]
    for post in sample(rng, [p for p in drafts if p.type == "post"]):
        yield task(
            site="wordpress_author",
            start_url=f"{AUTHOR}/wp-admin/edit.php?post_status=draft&post_type=post",
            intent_template="Publish your draft post “{{title}}”.",
            values={"title": post.title},
            evaluation=post_status_check(post.id, "publish"),
            solution=[
                f"goto({q(f'{AUTHOR}/wp-admin/post.php?post={post.id}&action=edit')})",
                f"click({el('button', 'Publish')})",
                "stop()",
            ],
        )


def tasks(content: Content) -> list[Task]:
    """Every template's tasks, numbered in template order."""
    made: list[Task] = []
    for template_id, fn in sorted(TEMPLATES, key=lambda item: item[0]):
        rng = random.Random(f"{content.seed}-{template_id}")
        for item in fn(content, rng):
            made.append({"task_id": len(made), "intent_template_id": template_id, **item})
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "tasks.json")
    args = parser.parse_args()
    golden = json.loads((HERE / "suite.json").read_text())["golden"]["wordpress"]
    content = generate(
        seed=int(golden["seed"]),
        scale=float(golden["scale"]),
        media_mb=float(golden.get("media_mb", 0)),
    )
    made = tasks(content)
    args.out.write_text(json.dumps(made, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(made)} tasks over {len({t['intent_template_id'] for t in made})} templates")


if __name__ == "__main__":
    main()
