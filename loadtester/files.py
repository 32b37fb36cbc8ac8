"""Files a payload names (hey's `-D`, Concord's `apiKeyPath`): regular files only, bounded,
and only where the FilePolicy (`-allow-file-dir`) allows.

A caller could otherwise name /dev/zero, a FIFO that never ends or a huge file and make the
service read it into memory; `read_regular_file_async` also keeps the read off the event loop.
"""

from __future__ import annotations

import asyncio
import os
import stat

from loadtester.filepolicy import FileNotAllowed, FilePolicy, printable_path

__all__ = ["FileNotAllowed", "FileRefused", "printable_path", "read_regular_file",
           "read_regular_file_async"]

_CHUNK = 1024 * 1024


class FileRefused(ValueError):
    """The file cannot be used; the message is one line ending with the path."""

    def __init__(self, reason: str, path: str, errno: int | None = None) -> None:
        super().__init__(f"{reason}: {printable_path(path)}")
        self.reason = reason
        self.path = printable_path(path)  # printable, on one line
        self.errno = errno  # set when the file could not be opened or read


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _check(mode: int, size: int, path: str, limit: int) -> None:
    if not stat.S_ISREG(mode):
        raise FileRefused(f"not a regular file ({_kind(mode)})", path)
    if size > limit:
        raise FileRefused(f"larger than {limit} bytes", path)


def read_regular_file(path: str, limit: int, policy: FilePolicy | None = None) -> bytes:
    """The content of a regular file of at most `limit` bytes; FileRefused otherwise, and
    FileNotAllowed where `policy` refuses it (checked before the open and on the open file)."""
    opened = path
    try:
        if policy is not None:
            opened = policy.resolve(path)
        info = os.stat(opened)
    except OSError as exc:
        raise FileRefused(str(exc.strerror or exc), path, exc.errno) from None
    except ValueError:  # a NUL byte or a lone surrogate: no file has that name
        raise FileRefused("not a file name", path) from None
    _check(info.st_mode, info.st_size, path, limit)
    if policy is not None:
        policy.check_file(path, opened, info)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
    try:
        # O_NONBLOCK: a FIFO swapped in after the stat must not block the open; O_NOFOLLOW:
        # the resolved path must not have become a symlink since
        fd = os.open(opened, flags | (os.O_NOFOLLOW if policy is not None else 0))
    except OSError as exc:
        raise FileRefused(str(exc.strerror or exc), path, exc.errno) from None
    try:
        info = os.fstat(fd)
        _check(info.st_mode, info.st_size, path, limit)
        if policy is not None:
            policy.check_opened(path, opened, fd, info)
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, min(_CHUNK, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:  # grew since the stat
                raise FileRefused(f"larger than {limit} bytes", path)
        return b"".join(chunks)
    except OSError as exc:
        raise FileRefused(str(exc.strerror or exc), path, exc.errno) from None
    finally:
        os.close(fd)


async def read_regular_file_async(path: str, limit: int,
                                  policy: FilePolicy | None = None) -> bytes:
    """`read_regular_file` in a worker thread."""
    return await asyncio.to_thread(read_regular_file, path, limit, policy)
