"""WordPress as a site: Debian's ``wordpress`` package with Apache, PHP and MariaDB in one
container (``containers/wordpress``), seeded from generated content (:mod:`.content`)."""

#: Version of the golden data's format; a new format bumps it.
SITE_VERSION = "1"
