"""Result files written as one set: checked before the work starts, replaced all at once.

Each file is written to a temporary file in the destination folder (so that the final rename
stays on one file system and is atomic), flushed to disk, and only when every file of the set
is complete are they renamed over the old ones, with Ctrl-C deferred during those renames. An
interrupt or an error while writing leaves the previous set untouched and no temporary file.
"""

import contextlib
import os
import signal
import tempfile
import threading
from pathlib import Path

__all__ = ["InterruptedAfterWriting", "check_output_files", "write_file_set"]

_TMP_SUFFIX = ".tmp"
# mkstemp's random part
_TMP_RANDOM_CHARS = 8


def _temp_name_length(path):
    """Bytes of the longest temporary file name ``write_file_set`` creates for ``path``."""
    return len(os.fsencode(f".{path.name}.")) + _TMP_RANDOM_CHARS + len(_TMP_SUFFIX)


def check_output_files(paths):
    """Check that every path in ``paths`` (all in one folder) can be written; raise otherwise.

    The folder is created if needed. Raises a ValueError, naming the path and the fix, when the
    folder cannot be created or written, when a name is too long for the file system, or when a
    path is an existing folder. Writing is tried for real (a temporary file is created and
    removed), so permissions, read-only file systems and quotas are caught before any work.
    """
    paths = [Path(p) for p in paths]
    folder = paths[0].parent
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"the output folder {str(folder)!r} is a file; pass a folder.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(
            f"cannot create the output folder {str(folder)!r} ({exc.strerror or exc}); pass "
            "another folder."
        ) from exc
    try:
        name_max = os.pathconf(folder, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):  # pragma: no cover - not POSIX
        name_max = 255
    for path in paths:
        longest = max(len(os.fsencode(path.name)), _temp_name_length(path))
        if longest > name_max:
            raise ValueError(
                f"the file name {path.name!r} is too long for this file system ({longest} bytes "
                f"with the temporary name, at most {name_max}); use a shorter name."
            )
        if path.is_dir():
            raise ValueError(
                f"{str(path)!r} is a folder, where a result file is to be written; use another "
                "name or remove that folder."
            )
    try:
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".sklrank-write-test.")
    except OSError as exc:
        raise ValueError(
            f"cannot write in the output folder {str(folder)!r} ({exc.strerror or exc}); pass a "
            "writable folder."
        ) from exc
    os.close(handle)
    os.unlink(probe)


class InterruptedAfterWriting(KeyboardInterrupt):
    """Ctrl-C arrived while the files were renamed into place: it was held until the whole
    new set was in place, and is raised now."""


def _new_file_mode():
    """The permissions ``open()`` gives a new file (0o666 less the umask); mkstemp's own
    temporary files are private (0o600), which the results should not stay."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def _sigint_deferred():
    """Hold a Ctrl-C (SIGINT) until the block ends, then raise KeyboardInterrupt.

    Only in the main thread (elsewhere signal handlers cannot be set, and a signal is
    delivered to the main thread anyway).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise InterruptedAfterWriting


def write_file_set(writers):
    """Write a set of files atomically, as one set.

    Parameters
    ----------
    writers : dict
        ``{path: write}`` where ``write(temporary_path)`` writes the file's content to the
        temporary path it is given (e.g. ``df.to_csv``, ``fig.savefig``).

    Every file is first written in full to a temporary file beside its destination; then all
    are renamed into place (``os.replace``) with Ctrl-C deferred until the last rename is done.
    On any error or interrupt before the renames, the temporary files are removed and the
    previous files are left as they were. A Ctrl-C during the renames raises
    :class:`InterruptedAfterWriting` once the new set is whole.
    """
    temporaries = {}
    mode = _new_file_mode()
    try:
        for path, write in writers.items():
            path = Path(path)
            handle, tmp = tempfile.mkstemp(
                dir=path.parent, prefix=f".{path.name}.", suffix=_TMP_SUFFIX
            )
            os.fchmod(handle, mode)
            os.close(handle)
            temporaries[path] = Path(tmp)
            write(Path(tmp))
            with open(tmp, "rb") as written:
                os.fsync(written.fileno())
        with _sigint_deferred():
            for path, tmp in temporaries.items():
                os.replace(tmp, path)
            temporaries = {}
    finally:
        for tmp in temporaries.values():
            with contextlib.suppress(OSError):
                tmp.unlink()
