"""The local Docker images: ``webserv images`` builds the repository's ``containers/``
folders (a Debian base from a debootstrap rootfs, the shop and the server on top)."""
