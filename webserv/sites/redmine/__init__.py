"""Redmine (Debian 12's package, with PostgreSQL, in one container) as a site: a Rails
forge and issue tracker standing in for WebArena's GitLab."""

#: Version of the golden data format; a change that makes old goldens unusable bumps it.
SITE_VERSION = "1"
