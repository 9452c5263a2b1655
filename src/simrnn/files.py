"""The one place that writes files and directories: nothing half-written, overwritten or left behind.

* :func:`atomic_path` — write a file under a temporary name next to it and rename it into place
  when the block succeeds (optionally: refuse an existing target, verify the result, hold a lock).
* :func:`output_directory` — THE way a command writes an output directory: written under a hidden
  temporary name and renamed into place only when complete (a failed command leaves nothing);
* :func:`new_directory` / :func:`new_timestamped_directory` — a fresh directory that is filled in
  place (a run being trained, a folder of generated CSVs), or one sentence saying why not; removed
  again if the block that fills it fails (unless kept on purpose).
* :func:`exclusive_lock` — ``<target>.lock`` held with ``flock`` before anything is touched, so a
  second writer of the same target is refused with one sentence instead of racing the first.
* :func:`check_output_location` / :func:`make_parents` — the parent of an output exists (or can
  be created), is a directory and is writable; otherwise one sentence naming the path.
* :func:`write_json_atomic` refuses NaN/inf (invalid JSON) naming the key.

Every refusal is a :class:`~simrnn.errors.UserInputError`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from simrnn.errors import UserInputError

_OS_REASONS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.ENOTDIR: "a path component is not a directory",
    errno.EISDIR: "is a directory",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.ENOENT: "no such file or directory",
    errno.EEXIST: "already exists",
    errno.ENAMETOOLONG: "file name too long",
    errno.ELOOP: "too many symbolic links",
    errno.EFBIG: "file too large",
    errno.EMFILE: "too many open files",
    errno.EXDEV: "on another file system",
}


def describe_os_error(exc: OSError) -> str | None:
    """One sentence ``"<path>: <reason>."`` for an OSError caused by a path, or None if it names none."""
    if exc.errno not in _OS_REASONS or exc.filename is None:
        return None
    reason = _OS_REASONS[exc.errno]
    target = f" -> {exc.filename2}" if exc.filename2 is not None else ""
    return f"{exc.filename}{target}: {reason}."


def check_output_location(path: str | os.PathLike) -> list[Path]:
    """Check, without creating anything, that ``path`` can be created; return its missing parents.

    The nearest existing ancestor must be a writable directory; otherwise
    :class:`UserInputError` names the path and the reason. The missing parents are returned
    outermost first (:func:`make_parents` creates them).
    """
    path = Path(path)
    missing = []
    probe = path.parent
    while not probe.exists():
        if probe.is_symlink():
            raise UserInputError(f"{probe}: a dangling symbolic link; cannot create {path} under it.")
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise UserInputError(f"{path}: cannot be created because {probe} is not a directory.")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserInputError(f"{path}: cannot be created because {probe} is not writable.")
    return list(reversed(missing))


def make_parents(path: str | os.PathLike) -> list[Path]:
    """Check the location of ``path`` and create its missing parents; return those created.

    A failed command removes them again with :func:`remove_created`, so nothing is left behind.
    """
    created = []
    try:
        for folder in check_output_location(path):
            folder.mkdir()
            created.append(folder)
    except OSError as exc:
        remove_created(created)
        raise UserInputError(describe_os_error(exc) or f"{Path(path).parent}: cannot be created ({exc}).") from None
    return created


def remove_created(folders: list[Path]) -> None:
    """Remove the (still empty) folders made by :func:`make_parents`, innermost first."""
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            folder.rmdir()


@contextlib.contextmanager
def exclusive_lock(target: str | os.PathLike) -> Iterator[Path]:
    """Hold ``<target>.lock`` exclusively for the block; a second holder is refused with one sentence.

    Take it BEFORE looking at or touching the target or its temporary files. The lock file is
    removed on release; a lock file whose inode changed under us (released and recreated by
    another process between our open and our ``flock``) is re-opened, so two writers can never
    both believe they hold it.
    """
    import fcntl

    lock = Path(target).with_name(Path(target).name + ".lock")
    for _ in range(100):
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise UserInputError(describe_os_error(exc) or f"{lock}: cannot be created ({exc}).") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UserInputError(
                f"{target}: another process is writing it right now (lock {lock.name} is held); "
                "wait for it to finish."
            ) from None
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    else:  # pragma: no cover - 100 lost races in a row
        raise UserInputError(f"{target}: could not take the lock {lock.name}; try again.")
    try:
        yield lock
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()
        os.close(fd)


def rename_into_place(tmp: Path, path: Path, *, replace: bool = True) -> None:
    """Rename ``tmp`` onto ``path``; with ``replace=False`` an existing ``path`` is never replaced.

    No-replace uses a hard link (atomic: fails if ``path`` exists) and falls back to a checked
    rename on file systems without hard links.
    """
    if replace:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise UserInputError(f"{path}: appeared while it was being written; the new result is discarded.") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOTSUP):
            raise
        if path.exists():
            raise UserInputError(f"{path}: appeared while it was being written; the new result is discarded.") from None
        os.replace(tmp, path)
        return
    tmp.unlink()


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike,
    *,
    replace: bool = True,
    verify: Callable[[Path], None] | None = None,
    lock: bool = False,
) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds.

    Missing parent folders are created (and removed again if the block fails). ``replace=False``
    refuses an existing ``path`` (before the block and, atomically, at the rename);
    ``verify(tmp)`` is called before the rename (raise to refuse the result); ``lock`` holds
    :func:`exclusive_lock` on ``path`` for the whole block.

    Example::

        with atomic_path("out.h5", replace=False) as tmp:
            write_everything(tmp)
    """
    path = Path(path)
    with contextlib.ExitStack() as stack:
        created = make_parents(path)
        ok = False
        try:
            if lock:
                stack.enter_context(exclusive_lock(path))
            if path.is_dir():
                raise UserInputError(f"{path}: is a directory; expected a file name.")
            if not replace and (path.exists() or path.is_symlink()):
                raise UserInputError(f"{path}: already exists; choose another name or delete it first.")
            try:
                fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            except OSError as exc:
                raise UserInputError(describe_os_error(exc) or f"{path}: cannot be written ({exc}).") from None
            os.close(fd)
            tmp = Path(tmp_name)
            try:
                yield tmp
                if tmp.exists():
                    tmp.chmod(0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
                if verify is not None:
                    verify(tmp)
                rename_into_place(tmp, path, replace=replace)
                ok = True
            finally:
                if tmp.exists():
                    tmp.unlink()
        finally:
            if not ok:
                remove_created(created)


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import: os.umask is process-wide and not thread-safe


@contextlib.contextmanager
def new_directory(path: str | os.PathLike, *, keep_on_error: bool = False) -> Iterator[Path]:
    """Create the directory ``path`` for the block (it must not exist yet) and yield it.

    If the block fails, the directory (and every parent this call created) is removed again, so a
    failed command leaves nothing behind; ``keep_on_error`` keeps it (e.g. for inspection).
    """
    path = Path(path)
    if path.exists() or path.is_symlink():
        raise UserInputError(f"{path}: already exists; choose a new directory (nothing is overwritten).")
    created = make_parents(path)
    try:
        path.mkdir()
    except FileExistsError:
        remove_created(created)
        raise UserInputError(f"{path}: already exists; choose a new directory (nothing is overwritten).") from None
    except OSError as exc:
        remove_created(created)
        raise UserInputError(describe_os_error(exc) or f"{path}: cannot be created ({exc}).") from None
    with _removed_on_error(path, created, keep_on_error):
        yield path


@contextlib.contextmanager
def new_timestamped_directory(
    parent: str | os.PathLike, *, now: _dt.datetime | None = None, keep_on_error: bool = False
) -> Iterator[Path]:
    """Like :func:`new_directory` for a fresh ``parent/<YYYY-MM-DD_HH-MM-SS>`` (``_1``, ``_2``... on a clash)."""
    names = _timestamp_names(Path(parent), now)
    created = make_parents(Path(parent) / "x")
    for candidate in names:
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            remove_created(created)
            raise UserInputError(describe_os_error(exc) or f"{candidate}: cannot be created ({exc}).") from None
        break
    else:  # pragma: no cover
        remove_created(created)
        raise UserInputError(f"{parent}: could not find a fresh <timestamp> name; clean up old folders.")
    with _removed_on_error(candidate, created, keep_on_error):
        yield candidate


def _timestamp_names(parent: Path, now: _dt.datetime | None = None) -> Iterator[Path]:
    """``parent/<YYYY-MM-DD_HH-MM-SS>``, then the same with ``_1``, ``_2`` ... appended."""
    stamp = (now or _dt.datetime.now()).strftime("%Y-%m-%d_%H-%M-%S")
    yield parent / stamp
    for attempt in range(1, 10_000):
        yield parent / f"{stamp}_{attempt}"


class OutputDir:
    """The folder an :func:`output_directory` block writes: ``out / "name"`` is a path in the hidden
    temporary folder (``out.tmp``); ``out.path`` is the final folder, set when the block succeeded."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.path: Path | None = None

    def __truediv__(self, name: str) -> Path:
        return self.tmp / name

    def final(self, path: str | os.PathLike) -> Path:
        """Where ``path`` (inside the temporary folder) is once the block succeeded."""
        if self.path is None:
            raise RuntimeError("the output directory is not complete yet")
        return self.path / Path(path).relative_to(self.tmp)


@contextlib.contextmanager
def output_directory(out: str | os.PathLike | None, default_parent: str | os.PathLike) -> Iterator[OutputDir]:
    """THE way a command writes an output directory: all of it, or nothing.

    The block writes into a hidden temporary folder next to the target; when it succeeds the
    folder is renamed to ``out`` (which must not exist) or to a fresh
    ``default_parent/<YYYY-MM-DD_HH-MM-SS>[_N]``. When it fails (an error, Ctrl-C) the temporary
    folder and every parent this call created are removed, so a failed command leaves nothing
    behind and no reader ever sees a half-written result.

    Example::

        with output_directory(None, run_dir / "predictions") as out:
            write_json_atomic(out / "metrics.json", metrics)
        out.path   # run_dir/predictions/<timestamp>, holding metrics.json
    """
    target = None if out is None else Path(out)
    parent = Path(default_parent) if target is None else target.parent
    if target is not None and (target.exists() or target.is_symlink()):
        raise UserInputError(f"{target}: already exists; choose a new directory (nothing is overwritten).")
    created = make_parents(target if target is not None else parent / "x")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{(target or parent).name}.", suffix=".partial", dir=parent))
    except OSError as exc:
        remove_created(created)
        raise UserInputError(describe_os_error(exc) or f"{parent}: cannot be written ({exc}).") from None
    result = OutputDir(tmp)
    try:
        yield result
        tmp.chmod(0o777 & ~_UMASK)  # mkdtemp makes 0700; give the usual permissions
        result.path = _rename_directory(tmp, [target] if target is not None else _timestamp_names(parent))
    finally:
        if result.path is None:
            shutil.rmtree(tmp, ignore_errors=True)
            remove_created(created)


def _rename_directory(tmp: Path, candidates: Iterable[Path]) -> Path:
    """Rename ``tmp`` to the first candidate that does not exist yet (never onto an existing folder)."""
    tried = None
    for candidate in candidates:
        tried = candidate
        if candidate.exists() or candidate.is_symlink():
            continue
        try:
            os.rename(tmp, candidate)
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                continue
            raise UserInputError(describe_os_error(exc) or f"{candidate}: cannot be created ({exc}).") from None
        return candidate
    raise UserInputError(f"{tried}: already exists; choose a new directory (nothing is overwritten).")


@contextlib.contextmanager
def _removed_on_error(path: Path, created: list[Path], keep: bool) -> Iterator[None]:
    try:
        yield
    except BaseException:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)
            remove_created(created)
        raise


def write_text_atomic(path: str | os.PathLike, text: str, *, replace: bool = True) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    with atomic_path(path, replace=replace) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json_atomic(path: str | os.PathLike, obj: Any, *, replace: bool = True) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically (NumPy scalars/arrays are converted).

    NaN and infinite numbers are refused (they are not JSON): :class:`UserInputError` naming the
    file and the key.
    """
    plain = to_jsonable(obj)
    where = first_non_finite(plain)
    if where is not None:
        raise UserInputError(
            f"{path}: refusing to write the non-finite value {where[1]} at {where[0]} (JSON has no NaN/inf); "
            "the inputs that produced it are invalid."
        )
    return write_text_atomic(path, json.dumps(plain, indent=2, sort_keys=False, allow_nan=False) + "\n",
                             replace=replace)


def first_non_finite(obj: Any, where: str = "top level") -> tuple[str, float] | None:
    if isinstance(obj, float) and not math.isfinite(obj):
        return where, obj
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        found = first_non_finite(value, f"key {key!r}" if where == "top level" else f"{where}[{key!r}]")
        if found is not None:
            return found
    return None


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, raising :class:`UserInputError` if it is missing, unreadable or invalid."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: file not found.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}).") from None
    except UnicodeDecodeError:
        raise UserInputError(f"{path}: not UTF-8 text; expected a JSON file.") from None


def to_jsonable(obj: Any) -> Any:
    """Convert NumPy/torch scalars and arrays, paths and tuples into plain JSON types."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if hasattr(obj, "detach") and hasattr(obj, "tolist"):  # torch.Tensor
        return obj.detach().cpu().tolist()
    return obj


def sha256_file(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()
