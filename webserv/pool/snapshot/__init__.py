"""Copy-on-write snapshots of site data: a golden copy per site version, a clone per instance."""

from webserv.pool.snapshot.drivers import DRIVERS, Driver, detect_driver
from webserv.pool.snapshot.store import SnapshotError, SnapshotStore

__all__ = ["DRIVERS", "Driver", "SnapshotError", "SnapshotStore", "detect_driver"]
