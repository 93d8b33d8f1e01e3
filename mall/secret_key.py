"""A secret key for a host where production did not set ``DJANGO_SECRET_KEY``.

The settings call ``host_secret_key`` with debug off and no key in the environment. The key is generated once into
the var directory (mode 0600) and read again on every later start, so that every process of the host (web, workers,
scheduler, commands) signs with the same key and sessions survive a restart. Two hosts would each generate their
own, which is why ``manage.py check --deploy`` still asks for ``DJANGO_SECRET_KEY`` (``mall.W001``). Imported by the
settings: nothing here imports Django.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import tempfile
from pathlib import Path

logger = logging.getLogger("mall.settings")
MIN_LENGTH = 50  # Django's deploy check calls a shorter key weak (security.W009)


def host_secret_key(path: Path) -> str:
    """The key kept in ``path``, generated there first if there is none yet."""
    key = _read(path)
    if key is None:
        key = _create(path)
    logger.warning(
        "DJANGO_SECRET_KEY is not set: signing with the key generated into %s, valid on this host only. "
        "Production sets DJANGO_SECRET_KEY.",
        path,
    )
    return key


def _read(path: Path) -> str | None:
    try:
        key = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    if len(key) < MIN_LENGTH:
        raise RuntimeError(f"{path} holds no usable secret key: delete it, or set DJANGO_SECRET_KEY")
    return key


def _create(path: Path) -> str:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole into a private temporary file, then linked into place: a process starting at the same
        # moment sees either no key or the complete one, and the first link wins for every process of the host.
        handle, temporary = tempfile.mkstemp(prefix=".secret-key-", dir=path.parent)  # mode 0600
    except OSError as error:
        raise RuntimeError(f"DJANGO_SECRET_KEY is not set and no key can be kept in {path.parent}: {error}") from None
    try:
        with os.fdopen(handle, "w", encoding="ascii") as file:
            file.write(secrets.token_urlsafe(64) + "\n")
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
    key = _read(path)
    if key is None:  # linked above, by this process or the one that won; only a deletion since gets here
        raise RuntimeError(f"{path} vanished as it was created: set DJANGO_SECRET_KEY")
    return key
