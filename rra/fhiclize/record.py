"""Reading a run record's files: regular files only, never through a link, text only as UTF-8."""

import errno
import os
import stat

from ..errors import RraError


class FhiclizeError(RraError):
    """A run that cannot be converted; the message names the run, the file and what to do."""


KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISLNK, "a symbolic link"),
)


def kind(mode):
    """What a non-regular file is, in words for a message."""
    return next((words for test, words in KINDS if test(mode)), "not a regular file")


MAX_BYTES = 16 * 2**20  # far above any real record file; parsing cost grows ~100x the size


def read(run_dir, name, run):
    """The bytes of run_dir/name; O_NOFOLLOW and O_NONBLOCK so a link or a pipe cannot redirect or hang us."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(os.path.join(run_dir, name), flags)
    except FileNotFoundError:
        raise FhiclizeError("run %s: %s disappeared while it was being read; retry the run" % (run, name)) from None
    except PermissionError:
        raise FhiclizeError(
            "run %s: cannot read %s (permission denied); make it readable by the archiver's user "
            "(DAQInterface writes run records 0444)" % (run, name)
        ) from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise FhiclizeError(link_message(run, name)) from None
        raise FhiclizeError("run %s: cannot open %s: %s" % (run, name, e.strerror)) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise FhiclizeError(
                "run %s: %s is %s, not a file; a run record holds regular files only: "
                "replace or remove it" % (run, name, kind(mode))
            )
        if os.fstat(fd).st_size > MAX_BYTES:
            raise FhiclizeError(
                "run %s: %s is %d MB, more than the %d MB a run record file may hold; "
                "check where it came from (an archiver would need %d GB to parse it)"
                % (run, name, os.fstat(fd).st_size >> 20, MAX_BYTES >> 20, max(1, (os.fstat(fd).st_size * 170) >> 30))
            )
        chunks, size = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > MAX_BYTES:  # grew while we read it
                raise FhiclizeError("run %s: %s grew past %d MB while it was read" % (run, name, MAX_BYTES >> 20))
            chunks.append(chunk)
    except OSError as e:
        raise FhiclizeError("run %s: cannot read %s: %s" % (run, name, e.strerror)) from None
    finally:
        os.close(fd)


def link_message(run, name):
    """Why a symbolic link in a run record stops the run."""
    return (
        "run %s: %s is a symbolic link; rra archives only regular files of the run directory and never "
        "follows a link: replace the link with the file itself, or remove it" % (run, name)
    )


def decode(data, run, name):
    """Text as legacy read it (UTF-8, universal newlines); binary or non-UTF-8 data is an error, not garbage."""
    if b"\0" in data:
        line = data.count(b"\n", 0, data.index(b"\0")) + 1
        raise FhiclizeError(
            "run %s: %s line %d: NUL byte, so this is binary data, not the text DAQInterface "
            "writes; restore the file from the DAQ host or remove it" % (run, name, line)
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise FhiclizeError(
            "run %s: %s line %d: byte 0x%02x is not UTF-8 (legacy read run records as UTF-8); "
            "convert the file to UTF-8, e.g. iconv -f latin1 -t utf-8" % (run, name, line, data[e.start])
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")
