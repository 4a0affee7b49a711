"""Atomic output: write to a temporary file beside the target, fsync, then rename over it.
A crash leaves either the old file or the new one, never half of one."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import SieddInputError


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = ""):
    """Yields a temporary path in the target's folder (which must exist); renamed onto `target`
    on success."""
    target = Path(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or target.suffix,
                                   dir=target.parent)
    except OSError as exc:          # name the output, not the temporary file
        raise type(exc)(exc.errno, exc.strerror, str(target)) from None
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())    # mkstemp makes 0600; outputs get the usual mode
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temporary_folder(target: str | os.PathLike) -> Path:
    """A new empty folder beside `target` (hidden, named after it), with the mode a new folder
    gets: for outputs made of several files, written there and renamed into place."""
    target = Path(target)
    folder = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    os.chmod(folder, 0o777 & ~_umask())     # mkdtemp makes 0700
    return folder


def atomic_write_bytes(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)


def require_folder(target: str | os.PathLike) -> None:
    """Every command writes into folders that exist: a mistyped folder is refused, not
    created (README, "Usage")."""
    parent = Path(target).parent
    if not parent.is_dir():
        raise SieddInputError(f"{parent}: no such folder")


def require_writable(target: str | os.PathLike) -> None:
    """The target's folder takes a new file (a probe, removed at once): permissions, a
    read-only file system or a full quota show before a long job, not after it."""
    parent = Path(target).parent
    try:
        with tempfile.NamedTemporaryFile(dir=parent, prefix=f".{Path(target).name}.probe."):
            pass
    except OSError as exc:
        raise SieddInputError(f"{parent}: cannot write there ({exc.strerror or exc})") from None


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
