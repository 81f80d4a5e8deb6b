"""Opening data files: regular files only, no larger than a limit, read at most that far.

A path may name a device (``/dev/zero`` never ends), a FIFO (opening it waits for a writer), a
directory, or a file that grows while it is read; none of them may hang or exhaust memory.
:func:`open_regular` refuses all but regular files before reading a byte and returns a reader that
refuses to read past ``max_bytes``, and that hashes what it reads (SHA-256), so a file is read
once for both its contents and its digest. This is the one such rule in lwc: :mod:`lwc.sim` opens
the ``.npy`` vectors and the training CSV it checks through it too, wording its own messages from
a :class:`FileRefused`.
"""

import hashlib
import io
import os
import stat

from lwc.errors import DataError

__all__ = ["open_regular", "FileRefused", "file_kind"]


def file_kind(mode):
    """What a ``st_mode`` describes, in words (``a directory``, ``a FIFO``, ...)."""
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _a(what):
    return f"an {what}" if what[:1].lower() in "aeiou" else f"a {what}"


class FileRefused(DataError):
    """:func:`open_regular`'s refusal of a path it does not open: ``mode`` is its ``st_mode`` when
    it is not a regular file, ``strerror`` the system's reason when it cannot be opened (the other
    is ``None``)."""

    def __init__(self, message, *, mode=None, strerror=None):
        super().__init__(message)
        self.mode, self.strerror = mode, strerror


def _cannot(path, exc):
    if isinstance(exc, FileNotFoundError):
        return FileRefused(f"{path}: no such file", strerror=exc.strerror)
    return FileRefused(f"{path}: cannot be read ({exc.strerror})", strerror=exc.strerror)


def _refuse_special(path, mode, what):
    if not stat.S_ISREG(mode):
        raise FileRefused(f"{path}: is {file_kind(mode)}, not {_a(what)} (only regular files "
                          "are read)", mode=mode)


def _limit_text(n):
    return f"{n >> 20} MiB" if n >= 1 << 20 and n % (1 << 20) == 0 else f"{n} bytes"


class _LimitedReader(io.RawIOBase):
    """The bytes of an open file descriptor (``size`` of them when it was opened), hashed as they
    are read; reading past ``limit`` bytes (a file that grew after it was checked) is a
    :class:`DataError`."""

    def __init__(self, fd, path, limit, what, size):
        self._fd, self._path, self._limit, self._what = fd, path, limit, what
        self.size = size
        self.count = 0
        self.sha256 = hashlib.sha256()

    def readable(self):
        return True

    def readinto(self, buffer):
        view = memoryview(buffer).cast("B")
        data = os.read(self._fd, min(len(view), self._limit + 1 - self.count))
        self.count += len(data)
        if self.count > self._limit:
            raise DataError(f"{self._path}: grew past {_limit_text(self._limit)} while it was "
                            f"read; {_a(self._what)} may be at most {_limit_text(self._limit)}")
        self.sha256.update(data)
        view[:len(data)] = data
        return len(data)

    def close(self):
        if not self.closed:
            os.close(self._fd)
        super().close()


def open_regular(path, what, max_bytes):
    """Open ``path`` for reading if it is a regular file of at most ``max_bytes`` bytes.

    ``what`` names the kind of file in messages (``"CSV file"``). Returns an unbuffered binary
    reader (use it in a ``with``) whose ``sha256`` is the digest of the bytes read so far,
    ``count`` their number and ``size`` the file's size when it was opened. Raises
    :class:`~lwc.errors.DataError` of one line naming ``path``: a :class:`FileRefused` when it is
    missing, unreadable or not a regular file (checked before opening, so a FIFO is never opened,
    and again on the open file), a plain one when it is larger than ``max_bytes``.
    """
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise _cannot(path, exc) from None
    _refuse_special(path, st.st_mode, what)
    try:
        # O_NONBLOCK: had the path become a FIFO since the check, opening it would not wait.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise _cannot(path, exc) from None
    try:
        st = os.fstat(fd)
        _refuse_special(path, st.st_mode, what)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        if st.st_size > max_bytes:
            raise DataError(f"{path}: is {st.st_size} bytes, more than the "
                            f"{_limit_text(max_bytes)} {_a(what)} may have")
    except BaseException:
        os.close(fd)
        raise
    return _LimitedReader(fd, path, max_bytes, what, st.st_size)
