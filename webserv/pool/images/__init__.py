"""The local Docker images: a Debian base from a debootstrap rootfs, and the shop on top.

The Dockerfiles and the sites' requirement list ship as package data beside the build code.
"""
