"""Cluster-wide locks: one stable 64-bit key per ``<module>:<name>``."""

from __future__ import annotations

import hashlib

LOCK_KEY_SQL = "SELECT pg_try_advisory_xact_lock(:key)"
LOCK_WAIT_SQL = "SELECT pg_advisory_xact_lock(:key)"


def lock_key(module: str, name: str) -> int:
    """The PostgreSQL advisory lock key of lock ``name`` of ``module``.

    The first 8 bytes of the BLAKE2b digest of ``<module>:<name>`` (UTF-8) as a
    signed 64-bit integer: the same in every process and every Python run
    (unlike ``hash()``), and distinct for distinct names in practice.
    """
    digest = hashlib.blake2b(f"{module}:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
