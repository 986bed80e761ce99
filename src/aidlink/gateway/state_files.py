"""The node's state is private: directories 0700, files 0600, whatever the process umask.

Modes are given when a file or directory is created and set again on every open, so state
left wider by an older release (or a careless copy) is narrowed. SQLite creates a database's
``-wal``, ``-shm`` and ``-journal`` files with the mode of the database file itself (its unix
VFS sets that mode explicitly, past the umask), so a database created 0600 here keeps its
companions 0600 too; any left over from before are narrowed with it.
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

from aidlink.keys.key_files import PRIVATE_DIRECTORY_MODE, PRIVATE_FILE_MODE

log = logging.getLogger("aidlink.gateway.state")
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_directory(directory: Path | str) -> Path:
    """``directory`` (and missing parents, each 0700) exists and is 0700."""
    directory = Path(directory)
    missing = []
    for parent in (directory, *directory.parents):
        if parent.exists():
            break
        missing.append(parent)
    for created in reversed(missing):
        try:
            os.mkdir(created, PRIVATE_DIRECTORY_MODE)
        except FileExistsError:
            pass
        os.chmod(created, PRIVATE_DIRECTORY_MODE)
    if not directory.is_dir():
        raise NotADirectoryError(f"{directory} exists and is not a directory")
    try:
        os.chmod(directory, PRIVATE_DIRECTORY_MODE)
    except OSError as exc:
        # A directory this process does not own (a volume's mount point) or on a read-only
        # filesystem (a Secret mount): what it creates inside is still private; say so rather
        # than refuse to start.
        if os.stat(directory).st_uid == os.geteuid() and exc.errno != errno.EROFS:
            raise
        log.warning(
            "cannot make %s private (0700): it belongs to another user or is read-only; its files are still 0600",
            directory,
        )
    return directory


def private_file(path: Path | str) -> Path:
    """``path`` exists (created empty if missing) with mode 0600, in a 0700 directory."""
    path = Path(path)
    private_directory(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)
    return path


def private_sqlite(path: Path | str) -> Path:
    """A SQLite database file ready to open: 0600, as are its companions that already exist."""
    path = private_file(path)
    for suffix in SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            os.chmod(companion, PRIVATE_FILE_MODE)
    return path
