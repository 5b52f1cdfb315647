"""Per-point checkpoints of a sweep: a JSON-lines file, appended and flushed as points finish.

The first line is a header holding the sweep's configuration (everything that decides its
numbers: data, noise levels, seeds, classifier, device, threads, package versions); every
other line is one finished point's row. JSON writes a float as its shortest round-trip
representation, so a row read back is bitwise the row that was written, and a resumed sweep
gives the numbers of an uninterrupted one.
"""

import contextlib
import json
import os
from pathlib import Path

try:  # POSIX advisory locks; elsewhere two sweeps on one file are not detected
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["CheckpointError", "SweepCheckpoint", "count_points", "discard_if_empty",
           "in_use", "looks_like_checkpoint", "remove_checkpoint"]

_FORMAT = "sklrank-sweep-checkpoint"
_VERSION = 1
# How every checkpoint file begins (json.dumps keeps the header's key order).
_HEADER_START = json.dumps({"format": _FORMAT}).encode("utf-8")[:-1]


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used (the message names the file and the fix).

    ``reason`` says why: "path" (a folder, a missing or unwritable folder), "in_use",
    "not_a_checkpoint", "damaged" or "other_configuration". ``differences``: for
    "other_configuration", ``(key, there, here)`` for every setting that differs (``key``
    dotted, e.g. "classifier_params.lr"); else empty.
    """

    def __init__(self, message, reason, differences=()):
        super().__init__(message)
        self.reason = reason
        self.differences = list(differences)


def _differences(old, new, prefix=""):
    """``(key, old, new)`` for every leaf where two nested dicts differ."""
    out = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        name = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, prefix=f"{name}.")
        elif a != b:
            out.append((name, a, b))
    return out


def _read_lines(path):
    """The file's complete lines and the byte offset where the complete lines end.

    A last line without its newline was being written when the sweep stopped: it is not a
    finished point, and the caller truncates it away.
    """
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    return data[:end].decode("utf-8").splitlines(), end


class SweepCheckpoint:
    """The checkpoint file of one sweep, open for appending finished points.

    Use :meth:`open`; rows already in the file are in ``rows`` (a dict from the point's key to
    its row). The file is locked (POSIX ``flock``) while open, so a second sweep on the same
    file is refused rather than interleaving its lines.
    """

    def __init__(self, path, handle, rows, key_fields):
        self.path = path
        self._handle = handle
        self.rows = rows
        self._key_fields = key_fields

    @classmethod
    def open(cls, path, config, key_fields):
        """Open (or create) the checkpoint at ``path`` for a sweep of configuration ``config``.

        Raises a CheckpointError (a ValueError) naming the path and the fix when the file
        cannot be used: its folder is missing or not writable, it is a folder, it is not a
        checkpoint, it belongs to a sweep of another configuration, or another sweep holds it.
        """
        path = Path(os.fspath(path))
        config = json.loads(json.dumps(config))  # as it reads back from the file
        folder = path.parent
        if path.is_dir():
            raise CheckpointError(
                f"checkpoint={str(path)!r} is a folder; pass a file path.", "path"
            )
        if not folder.is_dir():
            raise CheckpointError(
                f"checkpoint={str(path)!r}: the folder {str(folder)!r} does not exist; create it "
                "or pass a path in an existing folder.",
                "path",
            )
        header = {"format": _FORMAT, "version": _VERSION, "config": config}
        for _ in range(10):
            try:
                handle = open(path, "a+b")  # noqa: SIM115 - kept open while the sweep runs
            except OSError as exc:
                raise CheckpointError(
                    f"checkpoint={str(path)!r} cannot be written ({exc.strerror or exc}); "
                    "pass a path in a writable folder.",
                    "path",
                ) from exc
            try:
                cls._lock(handle, path)
                if not _still_at(handle, path):
                    # deleted (discard_if_empty) between the open and the lock: the points
                    # would go to a file no longer in the folder; open the path again
                    handle.close()
                    continue
                rows = cls._load(path, handle, header, key_fields)
            except BaseException:
                handle.close()
                raise
            return cls(path, handle, rows, key_fields)
        raise CheckpointError(  # pragma: no cover - a file replaced ten times over
            f"checkpoint={str(path)!r} keeps being replaced while it is opened; pass another "
            "path.",
            "in_use",
        )

    @staticmethod
    def _lock(handle, path):
        if fcntl is None:  # pragma: no cover
            return
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CheckpointError(
                f"checkpoint={str(path)!r} is in use by another running sweep; wait for it to "
                "finish or pass another path.",
                "in_use",
            ) from None

    @classmethod
    def _load(cls, path, handle, header, key_fields):
        lines, end = _read_lines(path)
        if not lines:
            # new, or created but stopped while its header was written (a part of it); any
            # other content is someone's file, left alone
            start = path.read_bytes()[: len(_HEADER_START)]
            if not _HEADER_START.startswith(start):
                raise CheckpointError(
                    f"checkpoint={str(path)!r} exists and is not a sweep checkpoint; pass a "
                    "new path (or delete that file).",
                    "not_a_checkpoint",
                )
            handle.truncate(0)
            cls._write(handle, header)
            return {}
        try:
            first = json.loads(lines[0])
        except json.JSONDecodeError:
            first = None
        if not isinstance(first, dict) or first.get("format") != _FORMAT:
            raise CheckpointError(
                f"checkpoint={str(path)!r} exists and is not a sweep checkpoint; pass a new "
                "path (or delete that file).",
                "not_a_checkpoint",
            )
        if first.get("config") != header["config"]:
            diff = _differences(first.get("config") or {}, header["config"])
            raise CheckpointError(
                f"checkpoint={str(path)!r} holds points of a sweep with another configuration "
                f"({'; '.join(f'{k}: {a!r} there, {b!r} here' for k, a, b in diff)}); resume "
                "with the same settings, or pass another checkpoint path (or delete the file) "
                "to start over.",
                "other_configuration",
                diff,
            )
        if end != path.stat().st_size:
            handle.truncate(end)  # drop the point that was being written when it stopped
        rows = {}
        for number, line in enumerate(lines[1:], start=2):
            try:
                row = json.loads(line)
                key = tuple(row[field] for field in key_fields)
            except (json.JSONDecodeError, KeyError, TypeError):
                raise CheckpointError(
                    f"line {number} of checkpoint {str(path)!r} is not a sweep point; the file "
                    "is damaged: delete it to start over.",
                    "damaged",
                ) from None
            rows[key] = row
        return rows

    @staticmethod
    def _write(handle, record):
        handle.write(json.dumps(record, allow_nan=True).encode("utf-8") + b"\n")
        handle.flush()
        os.fsync(handle.fileno())

    def add(self, row):
        """Append one finished point, flushed to disk before returning."""
        self._write(self._handle, row)
        self.rows[tuple(row[field] for field in self._key_fields)] = row

    def close(self):
        with contextlib.suppress(OSError):
            self._handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def in_use(path):
    """Whether a running sweep holds the checkpoint at ``path`` (False if it does not exist)."""
    if fcntl is None or not Path(path).is_file():  # pragma: no cover - not POSIX
        return False
    with open(path, "rb") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return False


def count_points(path):
    """The number of finished points in a checkpoint file (0 when it does not exist)."""
    path = Path(path)
    if not path.is_file():
        return 0
    lines, _ = _read_lines(path)
    return max(0, len(lines) - 1)


def _starts_as_checkpoint(data):
    """Whether ``data`` (a file's bytes) is a checkpoint, or the beginning of one's header."""
    return (data.startswith(_HEADER_START) or not data
            or (len(data) < len(_HEADER_START) and _HEADER_START.startswith(data)))


def looks_like_checkpoint(path):
    """Whether the file at ``path`` is a sweep checkpoint (or one whose header was being
    written): any other file there is not the sweep's to delete or resume."""
    with open(path, "rb") as handle:
        return _starts_as_checkpoint(handle.read(len(_HEADER_START)))


def _still_at(handle, path):
    """Whether the open file ``handle`` is still the file at ``path``."""
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except FileNotFoundError:
        return False


@contextlib.contextmanager
def _held(path):
    """The file at ``path`` open and locked (exclusively), or None when it is missing or a
    running sweep holds it."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:
        yield None
        return
    with handle:
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield None
                return
        yield handle if _still_at(handle, path) else None


def discard_if_empty(path):
    """Delete the checkpoint at ``path`` if it holds no finished point; return whether it did.

    Only a sweep checkpoint (its first line, or the part of it written, is a checkpoint's
    header) that no running sweep holds: the file is locked while it is read and deleted, so a
    sweep cannot open it in between, and any other file is left alone.
    """
    path = Path(path)
    if not path.is_file():
        return False
    with _held(path) as handle:
        if handle is None:
            return False
        data = handle.read()
        complete = [line for line in data.split(b"\n")[:-1] if line.strip()]
        if len(complete) > 1 or not _starts_as_checkpoint(data):
            return False  # finished points, or not a checkpoint
        path.unlink()  # under the lock
        return True


def remove_checkpoint(path):
    """Delete the checkpoint at ``path`` (its results written, or --overwrite), unless
    another sweep holds it now (e.g. one started with --overwrite in the moment between this
    run's last point and its results: deleting its file would lose its points). Under the
    lock."""
    path = Path(path)
    with _held(path) as handle:
        if handle is None:
            return False
        path.unlink()
        return True
