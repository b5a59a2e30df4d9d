"""The WordPress site's content, generated from a seed: users, terms, posts and pages,
comments and media, with the ids WordPress will give them.

:func:`generate` is pure: the same ``seed`` and ``scale`` give the same content, down to
ids, titles and dates. :func:`write_seed_input` writes it where the image's seed command
reads it (``seed/content.json``) and the media files where WordPress serves them
(``uploads/YYYY/MM/``). The task suite is generated from the same :class:`Content`, so its
answers are right by construction.
"""

from __future__ import annotations

import json
import random
import struct
import zlib
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

#: The address the golden data is made for; each instance's is set after launch.
GOLDEN_URL = "http://wordpress.local"
ADMIN_LOGIN = "admin"
ADMIN_PASSWORD = "Admin.Pass.2024"
#: Every account other than the admin's shares one password (the logins document it).
USER_PASSWORD = "User.Pass.2024"
#: The first author has the same name in every seed: the author role's login uses it.
AUTHOR_NAME = ("Morgan", "Reyes")
AUTHOR_LOGIN = "morgan.reyes"
#: The administrator's application password for the REST API (the evaluators' access),
#: the same in every seed as the passwords are.
API_KEY = {
    "name": "webserv evaluators",
    "uuid": "5b0e7c1a-3d2f-4e6b-9a1c-7f2d8e4b6a90",
    "password": "Wp4Evaluators7Rest2024Key",
    "created": 1719590400,
}

SITE_TITLE = "Harbor Lane Journal"
SITE_TAGLINE = "Notes from a small coastal town"
DATE_FORMAT = "F j, Y"

#: Accounts per role at scale 1.0 (the admin is the first administrator).
ROLE_COUNTS = {"administrator": 3, "editor": 6, "author": 15, "contributor": 8, "subscriber": 18}
#: How often each role writes: contributors' posts wait for review, so they write few.
WRITER_WEIGHTS = {"administrator": 1.0, "editor": 2.0, "author": 3.0, "contributor": 0.4}
POSTS, PAGES, COMMENTS, IMAGES = 900, 120, 5200, 40
#: Images ``media_mb`` adds are this large, each one attachment.
BULK_IMAGE_BYTES = 8 << 20
FIRST_DAY, LAST_DAY = datetime(2021, 1, 4, 8, 0), datetime(2024, 6, 28, 20, 0)

CATEGORIES = [
    ("Town News", "Council meetings, roadworks and the harbour board."),
    ("Food & Drink", "Cafés, bakeries and the Saturday market."),
    ("Boats", "Moorings, repairs and the regatta."),
    ("Gardening", "Allotments, seeds and the weather."),
    ("History", "Old photographs and the people in them."),
    ("Walks", "Coast paths, woods and hills nearby."),
    ("Schools", "Term dates, plays and sports days."),
    ("Arts", "The gallery, the choir and the film club."),
    ("Business", "Shops opening, closing and moving."),
    ("Wildlife", "Seals, birds and rock pools."),
    ("Sport", "Football, rowing and the fun run."),
    ("Letters", "What readers wrote in."),
]
TAGS = (
    "harbour lighthouse ferry regatta market bakery library council storm tide seals "
    "puffins choir festival museum allotment orchard bridge railway pier lifeboat fishing "
    "beach cliffs chapel school volunteers recipe bookshop pottery theatre cinema cycling "
    "rowing football weather winter summer autumn spring history photography"
).split()
FIRST_NAMES = (
    "Alice Bruno Chloe Dmitri Elena Farid Grace Hugo Imani Jonas Keiko Liam Maya Nikolai "
    "Olivia Pavel Quinn Rosa Samir Tessa Umar Vera Wendell Ximena Yusuf Zoe Aaron Bianca "
    "Carlos Daphne Emil Fiona Gideon Hana Ivan Julia Kofi Lena Marco Nadia Oscar Priya "
    "Rafael Sofia Tomas Una Victor Willa"
).split()
LAST_NAMES = (
    "Abbott Barros Castillo Dunne Eriksen Fontaine Greer Hartley Ibarra Jensen Kowalski "
    "Lindqvist Moreau Novak Okafor Petrov Quint Rahman Sato Thorne Ueda Valdez Whitlock "
    "Xu Yilmaz Zeller Ashby Brennan Calloway Delacroix"
).split()
ADJECTIVES = (
    "quiet busy windy bright early late hidden forgotten new old small grand golden "
    "rainy sunny long short curious gentle wild"
).split()
NOUNS = (
    "harbour market garden path bridge lighthouse ferry orchard choir festival library "
    "bakery museum pier chapel school meadow station workshop boatyard"
).split()
VERBS = "visit restore plan photograph celebrate explore map repair rebuild remember".split()
TITLE_SHAPES = (
    "A {adj} morning at the {noun}",
    "Why the {noun} matters to us",
    "How to {verb} the {noun}",
    "Notes on the {adj} {noun}",
    "{num} things we learned at the {noun}",
    "The {noun} and the {noun2}",
    "What happened to the {adj} {noun}?",
    "Letter: keep the {noun} {adj}",
    "Our guide to the {noun} in {season}",
    "Remembering the {noun} of {year}",
)
SEASONS = "spring summer autumn winter".split()
SENTENCE_SHAPES = (
    "The {noun} was {adj} this week, and {name} said it reminded them of {year}.",
    "Volunteers plan to {verb} the {noun} before the {season} tide.",
    "Anyone who wants to help can meet at the {noun} on Saturday morning.",
    "It is a {adj} walk from the {noun} to the {noun2}, about {num} minutes.",
    "{name} has kept records of the {noun} since {year}.",
    "The council will {verb} the {noun} if the budget allows it.",
    "Readers told us the {noun2} is best visited in {season}.",
    "We counted {num} boats near the {noun} on Sunday.",
)
COMMENT_SHAPES = (
    "Lovely piece about the {noun}, thank you.",
    "I remember the {noun} from {year}; it was {adj} then too.",
    "Does anyone know when the {noun} reopens?",
    "Great photos. The {noun2} looks {adj} in {season}.",
    "We walked there last {season} and loved it.",
    "My grandmother worked at the {noun} for {num} years.",
    "Please keep writing about the {noun}!",
    "Not sure I agree about the {noun2}, but well written.",
)
SPAM_SHAPES = (
    "Cheap {noun} loans, click here today!!!",
    "Best {adj} watches for sale, free shipping worldwide",
    "Earn {num}00 dollars a day from home, visit my site",
)


@dataclass(frozen=True)
class User:
    id: int
    login: str
    email: str
    display_name: str
    first_name: str
    last_name: str
    role: str
    password: str
    registered: str
    description: str


@dataclass(frozen=True)
class Term:
    id: int
    taxonomy: str
    name: str
    slug: str
    description: str
    parent: int = 0


@dataclass(frozen=True)
class Post:
    id: int
    type: str
    title: str
    slug: str
    content: str
    excerpt: str
    status: str
    author: int
    date: str
    parent: int
    menu_order: int
    comment_status: str
    sticky: bool
    categories: list[int] = field(default_factory=list)
    tags: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Comment:
    id: int
    post: int
    author: str
    email: str
    url: str
    ip: str
    content: str
    date: str
    #: WordPress's comment_approved: "1" approved, "0" pending, "spam".
    status: str
    parent: int
    user: int


@dataclass(frozen=True)
class Media:
    id: int
    file: str
    title: str
    slug: str
    description: str
    caption: str
    alt: str
    mime: str
    width: int
    height: int
    bytes: int
    author: int
    date: str
    parent: int
    featured: bool


@dataclass
class Content:
    """Everything the seed command loads, in the order it loads it."""

    seed: int
    scale: float
    users: list[User]
    terms: list[Term]
    posts: list[Post]
    comments: list[Comment]
    media: list[Media]
    api: dict[str, Any]

    def user(self, user_id: int) -> User:
        return next(u for u in self.users if u.id == user_id)

    def term(self, term_id: int) -> Term:
        return next(t for t in self.terms if t.id == term_id)

    def post(self, post_id: int) -> Post:
        return next(p for p in self.posts if p.id == post_id)

    def site(self) -> dict[str, Any]:
        return {
            "title": SITE_TITLE,
            "url": GOLDEN_URL,
            "options": {
                "blogdescription": SITE_TAGLINE,
                "timezone_string": "UTC",
                "date_format": DATE_FORMAT,
                "time_format": "g:i a",
                "permalink_structure": "",
                "posts_per_page": 10,
                "default_comment_status": "open",
                "comment_registration": 0,
                "comments_notify": 0,
                "moderation_notify": 0,
                # Avatars come from gravatar.com, which no instance can reach.
                "show_avatars": 0,
                "blog_public": 0,
                "template": "twentytwentyone",
                "stylesheet": "twentytwentyone",
            },
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "scale": self.scale,
            "site": self.site(),
            "users": [asdict(u) for u in self.users],
            "terms": [asdict(t) for t in self.terms],
            "posts": [asdict(p) for p in self.posts],
            "comments": [asdict(c) for c in self.comments],
            "media": [asdict(m) for m in self.media],
            "api": self.api,
        }


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    seconds = int((end - start).total_seconds())
    return start + timedelta(seconds=rng.randrange(max(seconds, 1)))


def _slug(text: str) -> str:
    kept = "".join(c if c.isalnum() else "-" for c in text.lower())
    return "-".join(part for part in kept.split("-") if part)


def _words(rng: random.Random, name: str) -> dict[str, Any]:
    noun, noun2 = rng.sample(NOUNS, 2)
    return {
        "adj": rng.choice(ADJECTIVES),
        "noun": noun,
        "noun2": noun2,
        "verb": rng.choice(VERBS),
        "num": rng.randint(3, 12),
        "season": rng.choice(SEASONS),
        "year": rng.randint(1952, 2019),
        "name": name,
    }


def _users(rng: random.Random, scale: float) -> list[User]:
    people = [(f, last) for f in FIRST_NAMES for last in LAST_NAMES]
    rng.shuffle(people)
    registered = datetime(2020, 11, 2, 9, 30)
    users: list[User] = []
    roles = [
        role
        for role, count in ROLE_COUNTS.items()
        for _ in range(max(1, round(count * min(scale, 1.0))))
    ]
    first_author = roles.index("author")
    for index, role in enumerate(roles):
        first, last = AUTHOR_NAME if index == first_author else people[index]
        login = ADMIN_LOGIN if index == 0 else f"{first}.{last}".lower()
        registered += timedelta(days=rng.randint(1, 20), minutes=rng.randint(0, 600))
        users.append(
            User(
                id=index + 1,
                login=login,
                email=f"{first}.{last}@harborlane.example".lower(),
                display_name=f"{first} {last}",
                first_name=first,
                last_name=last,
                role=role,
                password=ADMIN_PASSWORD if index == 0 else USER_PASSWORD,
                registered=_stamp(registered),
                description=f"{first} writes about {rng.choice(NOUNS)}s and {rng.choice(NOUNS)}s.",
            )
        )
    return users


def _terms() -> list[Term]:
    # wp_install makes "Uncategorized" term 1; the seed's terms follow in this order.
    terms = [
        Term(id=2 + i, taxonomy="category", name=name, slug=_slug(name), description=desc)
        for i, (name, desc) in enumerate(CATEGORIES)
    ]
    first_tag = 2 + len(CATEGORIES)
    terms += [
        Term(id=first_tag + i, taxonomy="post_tag", name=tag, slug=tag, description="")
        for i, tag in enumerate(TAGS)
    ]
    return terms


def _unique_title(rng: random.Random, taken: set[str], words: dict[str, Any]) -> str:
    while True:
        title = rng.choice(TITLE_SHAPES).format(**words)
        title = title[0].upper() + title[1:]
        if title not in taken:
            taken.add(title)
            return title
        words = {**words, **_words(rng, words["name"])}


def _body(rng: random.Random, name: str) -> tuple[str, str]:
    paragraphs = []
    for _ in range(rng.randint(2, 4)):
        sentences = [
            rng.choice(SENTENCE_SHAPES).format(**_words(rng, name))
            for _ in range(rng.randint(2, 4))
        ]
        paragraphs.append(" ".join(sentences))
    blocks = "\n\n".join(
        f"<!-- wp:paragraph -->\n<p>{text}</p>\n<!-- /wp:paragraph -->" for text in paragraphs
    )
    return blocks, paragraphs[0].split(". ")[0] + "."


def _posts(rng: random.Random, scale: float, users: list[User], terms: list[Term]) -> list[Post]:
    writers = [u for u in users if u.role in WRITER_WEIGHTS]
    writer_weights = [WRITER_WEIGHTS[u.role] for u in writers]
    categories = [t.id for t in terms if t.taxonomy == "category"]
    tags = [t.id for t in terms if t.taxonomy == "post_tag"]
    n_posts, n_pages = max(10, round(POSTS * scale)), max(3, round(PAGES * scale))
    kinds = ["post"] * n_posts + ["page"] * n_pages
    rng.shuffle(kinds)
    dates = sorted(_between(rng, FIRST_DAY, LAST_DAY) for _ in kinds)
    taken: set[str] = set()
    posts: list[Post] = []
    pages: list[int] = []
    for index, (kind, date) in enumerate(zip(kinds, dates, strict=True)):
        author = rng.choices(writers, writer_weights)[0]
        roll = rng.random()
        if author.role == "contributor":  # contributors cannot publish
            status = "pending" if roll < 0.5 else "draft"
        elif kind == "page":
            status = "publish" if roll < 0.9 else "draft"
        else:
            status = (
                "publish"
                if roll < 0.88
                else "draft"
                if roll < 0.95
                else "pending"
                if roll < 0.98
                else "private"
            )
        title = _unique_title(rng, taken, _words(rng, author.display_name))
        content, excerpt = _body(rng, author.display_name)
        parent = rng.choice(pages) if kind == "page" and pages and rng.random() < 0.3 else 0
        post = Post(
            id=index + 1,
            type=kind,
            title=title,
            slug=_slug(title),
            content=content,
            excerpt=excerpt if kind == "post" else "",
            status=status,
            author=author.id,
            date=_stamp(date),
            parent=parent,
            menu_order=0,
            comment_status="open" if kind == "post" else "closed",
            sticky=kind == "post" and status == "publish" and rng.random() < 0.004,
            categories=sorted(rng.sample(categories, 1 if rng.random() < 0.75 else 2))
            if kind == "post"
            else [],
            tags=sorted(rng.sample(tags, rng.randint(0, 4))) if kind == "post" else [],
        )
        posts.append(post)
        if kind == "page" and status == "publish":
            pages.append(post.id)
    return posts


def _comments(
    rng: random.Random, scale: float, users: list[User], posts: list[Post]
) -> list[Comment]:
    open_posts = [p for p in posts if p.type == "post" and p.status == "publish"]
    # A few posts draw most of the talk, as on any blog.
    weights = [rng.paretovariate(1.5) for _ in open_posts]
    drafts: list[tuple[datetime, int, str, str, str, str, int, int]] = []
    for _ in range(max(20, round(COMMENTS * scale))):
        post = rng.choices(open_posts, weights)[0]
        posted = datetime.strptime(post.date, "%Y-%m-%d %H:%M:%S")
        when = _between(rng, posted + timedelta(minutes=5), posted + timedelta(days=60))
        member = rng.choice(users) if rng.random() < 0.2 else None
        roll = rng.random()
        status = "1" if roll < 0.85 else "0" if roll < 0.95 else "spam"
        if member is not None:
            name, email, user_id = member.display_name, member.email, member.id
        else:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            name, email, user_id = f"{first} {last}", f"{first}{rng.randint(1, 99)}@mail.example", 0
        shapes = SPAM_SHAPES if status == "spam" else COMMENT_SHAPES
        text = rng.choice(shapes).format(**_words(rng, name))
        drafts.append(
            (when, post.id, name, email.lower(), text, status, user_id, rng.randrange(256))
        )
    drafts.sort()
    comments: list[Comment] = []
    approved_on: dict[int, list[int]] = {}
    for index, (when, post_id, name, email, text, status, user_id, octet) in enumerate(drafts):
        earlier = approved_on.get(post_id, [])
        parent = rng.choice(earlier) if earlier and rng.random() < 0.2 else 0
        comment = Comment(
            id=index + 1,
            post=post_id,
            author=name,
            email=email,
            url="",
            ip=f"198.51.100.{octet}",
            content=text,
            date=_stamp(when),
            status=status,
            parent=parent,
            user=user_id,
        )
        comments.append(comment)
        if status == "1":
            approved_on.setdefault(post_id, []).append(comment.id)
    return comments


def _media(
    rng: random.Random, scale: float, media_mb: float, posts: list[Post], first_id: int
) -> list[Media]:
    published = [p for p in posts if p.type == "post" and p.status == "publish"]
    media: list[Media] = []
    used: set[int] = set()
    for index in range(max(2, round(IMAGES * scale))):
        post = rng.choice(published)
        while post.id in used:
            post = rng.choice(published)
        used.add(post.id)
        width, height = rng.choice([(96, 64), (120, 80), (80, 80)])
        noun = rng.choice(NOUNS)
        slug = f"{noun}-photo-{index + 1}"
        media.append(
            Media(
                id=first_id + index,
                file=f"{post.date[:4]}/{post.date[5:7]}/{slug}.png",
                title=f"{noun.capitalize()} photo {index + 1}",
                slug=slug,
                description="",
                caption=f"The {noun}, photographed for “{post.title}”.",
                alt=f"The {noun}",
                mime="image/png",
                width=width,
                height=height,
                bytes=0,
                author=post.author,
                date=post.date,
                parent=post.id,
                featured=True,
            )
        )
    # The bulk images a large golden carries: unattached scans, BULK_IMAGE_BYTES each.
    width = 1024
    height = BULK_IMAGE_BYTES // (width * 3)
    for index in range(int(media_mb * (1 << 20)) // BULK_IMAGE_BYTES):
        slug = f"archive-scan-{index + 1:05d}"
        media.append(
            Media(
                id=first_id + len(media),
                file=f"2024/06/{slug}.png",
                title=f"Archive scan {index + 1}",
                slug=slug,
                description="A scan from the town archive.",
                caption="",
                alt="",
                mime="image/png",
                width=width,
                height=height,
                bytes=0,
                author=1,
                date=_stamp(LAST_DAY),
                parent=0,
                featured=False,
            )
        )
    return media


def generate(seed: int = 7, scale: float = 1.0, media_mb: float = 0.0) -> Content:
    """The site's content for ``seed``, ``scale`` (1.0: about 1,000 posts and pages and
    5,000 comments) and ``media_mb`` (bulk images added, in MiB)."""
    rng = random.Random(seed)
    users = _users(rng, scale)
    terms = _terms()
    posts = _posts(rng, scale, users, terms)
    comments = _comments(rng, scale, users, posts)
    media = _media(rng, scale, media_mb, posts, first_id=len(posts) + 1)
    return Content(seed, scale, users, terms, posts, comments, media, dict(API_KEY))


def png(width: int, height: int, pixels: bytes, level: int) -> bytes:
    """An RGB PNG of ``pixels`` (``width * height * 3`` bytes); level 0 stores them
    uncompressed, which is as fast as a copy."""
    stride = width * 3
    rows = b"".join(b"\0" + pixels[y * stride : (y + 1) * stride] for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, level))
        + chunk(b"IEND", b"")
    )


def _image(seed: int, media: Media) -> bytes:
    rng = random.Random(f"{seed}-media-{media.id}")
    if media.featured:
        # A colour field with noise: small, and different for every image.
        base = bytes(rng.randrange(256) for _ in range(3))
        noise = rng.randbytes(media.width * media.height * 3)
        pixels = bytes((b & 0x3F) + base[i % 3] // 2 for i, b in enumerate(noise))
        return png(media.width, media.height, pixels, level=6)
    return png(media.width, media.height, rng.randbytes(media.width * media.height * 3), level=0)


def write_seed_input(out: Path, content: Content) -> None:
    """``out/seed/content.json`` and the media files under ``out/uploads``."""
    (out / "seed").mkdir(parents=True, exist_ok=True)
    sizes: dict[int, int] = {}
    for media in content.media:
        path = out / "uploads" / media.file
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _image(content.seed, media)
        path.write_bytes(data)
        sizes[media.id] = len(data)
    data = content.to_json()
    for item in data["media"]:
        item["bytes"] = sizes[item["id"]]
    (out / "seed" / "content.json").write_text(json.dumps(data, ensure_ascii=False))
