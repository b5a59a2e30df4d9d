"""The server image ``webserv/server:latest`` (used by ``docker-compose.yml``).

``containers/server`` builds it on the base image of ``webserv images build``: Chromium and
redis-server from Debian, and webserv installed from its wheel with its dependencies pinned
to the versions installed here. Like the other images it carries a content hash label of
its inputs and is reused when it matches.
"""

from __future__ import annotations

import docker

from webserv.pool.images.build import (
    SERVER_IMAGE,
    BuiltImage,
    Log,
    build_base,
    build_image,
    webserv_requirements,
)

__all__ = ["SERVER_IMAGE", "build_server", "server_requirements"]


def server_requirements() -> list[str]:
    """webserv's run-time dependencies, pinned (webserv itself comes as its own wheel)."""
    return webserv_requirements()


def build_server(
    client: docker.DockerClient, force: bool = False, log: Log = print
) -> list[BuiltImage]:
    """Build (or reuse) the rootfs and the base image, then the server image on them."""
    bases = build_base(client, force, log)
    return [*bases, build_image(client, "server", bases[-1], force, log)]
