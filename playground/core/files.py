"""Reading a file a stranger may have made: only a regular file, and only up to a size limit.

A path in a run folder or a design a user picked may name anything: a named pipe (FIFO), whose
``open`` waits for a writer forever; a device such as ``/dev/zero``, whose read never ends; a
folder; a socket; a symbolic link to any of these. :func:`open_regular` opens without blocking
(``O_NONBLOCK``), checks with ``fstat`` on the opened file that it is a regular file, and refuses
anything else with :class:`NotRegularFileError`; :func:`read_regular` also reads at most ``limit``
bytes, refusing a bigger file with :class:`FileTooLargeError`. Both errors are ``OSError``
subclasses (so every ``except OSError`` already catches them) whose ``strerror`` says what is wrong
in words, without the path, for callers that name the file themselves; ``str()`` names the file.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

from playground.core.text import printable


class UnsafeFileError(OSError):
    """A file refused before it was read; ``strerror`` says why, ``filename`` names it."""

    def __init__(self, path: str | os.PathLike, reason: str, code: int = errno.EINVAL):
        super().__init__(code, reason, os.fspath(path))

    def __str__(self) -> str:
        return f"{printable(self.filename)}: {self.strerror}"


class NotRegularFileError(UnsafeFileError):
    """The path is a pipe, a device, a folder, a socket (or, where links are not followed, a link)."""


class FileTooLargeError(UnsafeFileError):
    """The file is over the size limit of what it should be; ``size`` is its size in bytes where the
    OS tells it (``None`` for a file that grew while it was read, or one of unknown size)."""

    def __init__(self, path: str | os.PathLike, limit: int, size: int | None = None):
        said = f"{size:,} bytes, larger" if size is not None else "larger"
        super().__init__(path, f"{said} than the {limit:,} bytes allowed", errno.EFBIG)
        self.limit, self.size = limit, size


def describe_kind(mode: int) -> str:
    """What a file that is not a regular file is, in words."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device (such as /dev/zero)"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"


def _not_regular(path: str | os.PathLike, mode: int) -> NotRegularFileError:
    return NotRegularFileError(path, f"{describe_kind(mode)}, not a regular file", errno.EINVAL)


def open_fd(path: str | os.PathLike, flags: int = os.O_RDONLY, *, follow_symlinks: bool = True,
            mode: int = 0o666) -> int:
    """An OS file descriptor for the regular file ``path``, opened with ``flags`` without blocking
    on a pipe (``O_NONBLOCK``, then cleared) and, unless ``follow_symlinks``, without following a
    symbolic link (``O_NOFOLLOW`` where the OS has it). ``NotRegularFileError`` for anything that
    is not a regular file; the usual ``OSError`` (``FileNotFoundError``, ...) if it cannot be opened."""
    if follow_symlinks:
        info = os.stat(path)  # refuse a device or a pipe without opening it, where that is seen first
    else:
        info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode):
        raise _not_regular(path, info.st_mode)
    flags |= getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks:  # swapped for a link since the lstat
            raise NotRegularFileError(path, "a symbolic link, not a regular file", errno.ELOOP) from None
        raise
    try:
        info = os.fstat(fd)  # what was opened, whatever the path names now
        if not stat.S_ISREG(info.st_mode):
            raise _not_regular(path, info.st_mode)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_regular(path: str | os.PathLike, limit: int | None = None, *,
                 follow_symlinks: bool = True) -> BinaryIO:
    """``path`` opened for reading in binary, if it is a regular file (``NotRegularFileError``
    otherwise) and, with ``limit``, if its size is at most ``limit`` bytes (``FileTooLargeError``).
    A streaming reader must still count what it reads: a file can grow after it is opened."""
    fd = open_fd(path, os.O_RDONLY, follow_symlinks=follow_symlinks)
    try:
        if limit is not None:
            size = os.fstat(fd).st_size
            if size > limit:
                raise FileTooLargeError(path, limit, size)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike, limit: int, *, follow_symlinks: bool = True) -> bytes:
    """The bytes of the regular file ``path``: at most ``limit`` are read, and a bigger file is
    refused (``FileTooLargeError``) having read no more than ``limit + 1`` bytes. Anything that is
    not a regular file is refused before it is read (``NotRegularFileError``)."""
    with open_regular(path, limit, follow_symlinks=follow_symlinks) as file:
        data = file.read(limit + 1)
    if len(data) > limit:  # it grew, or it is a file whose size the OS does not know (/proc)
        raise FileTooLargeError(path, limit)
    return data


__all__ = ["FileTooLargeError", "NotRegularFileError", "UnsafeFileError", "describe_kind", "open_fd",
           "open_regular", "read_regular"]
