"""Outputs that are never lost: build in a temp dir beside the target, rename into place at the end.

- An interrupted build leaves no half-written output; temp dirs of builds that died (kill -9, power loss) are
  removed by the next edgekit run in the same directory, which says so.
- edgekit never deletes or replaces what it did not write: --force replaces a directory only when every file
  and folder in it is listed in its edgekit.json (or, for a bundle, its manifest.json), and a file only when
  it is an edgekit report; the check is made again at the final rename, under a lock that concurrent edgekit
  runs to the same output respect, and the rename itself never replaces an output that appeared meanwhile.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from edgekit.build.record import RECORD_NAME
from edgekit.errors import OutputDirError
from edgekit.runtime.manifest import MANIFEST_FORMAT, MANIFEST_NAME

TEMP_PREFIX = ".edgekit-tmp-"
PREVIOUS_PREFIX = ".edgekit-previous-"  # an earlier output set aside for the moment of a replace; never auto-removed
_OWNED = re.compile(r"-(\d+)-([0-9a-f]{8})-")  # a temp dir's name says which process (pid, host) made it
LOCK_SUFFIX = ".edgekit-lock"

# The files in which edgekit lists what it wrote beside them: an artefact's record, a bundle's manifest
# (recognised by its format field, so an unrelated manifest.json never counts).
_LISTINGS = ((RECORD_NAME, None), (MANIFEST_NAME, MANIFEST_FORMAT))


def files_written_by_edgekit(directory: Path) -> set[str] | None:
    """Relative paths an edgekit.json or bundle manifest says edgekit wrote there, or None if neither exists."""
    for name, fmt in _LISTINGS:
        try:
            listing = json.loads((directory / name).read_text(encoding="utf-8"))
            if isinstance(listing, dict) and isinstance(listing.get("files"), dict) and (
                    fmt is None or listing.get("format") == fmt):
                extra = {"manifest.sha256", "manifest.sig"} if name == MANIFEST_NAME else set()
                return set(listing["files"]) | {name} | extra
        except (OSError, ValueError):
            continue
    return None


def _foreign(out: Path) -> list[str]:
    """What in `out` edgekit did not write: files not in its listing, and folders holding none of them."""
    ours = files_written_by_edgekit(out) or set()
    folders = {parent.as_posix() for name in ours for parent in Path(name).parents if parent != Path(".")}
    foreign = []
    for path in sorted(out.rglob("*")):
        name = path.relative_to(out).as_posix()
        if (path.is_dir() and not path.is_symlink() and name not in folders) or \
                (not path.is_dir() and name not in ours) or path.is_symlink():
            foreign.append(name + ("/" if path.is_dir() and not path.is_symlink() else ""))
    return foreign


def check_output_dir(out: Path, *, force: bool) -> None:
    """Refuse, before any work starts, an output dir we may not fill."""
    out = Path(out)
    resolved = out.resolve()
    if resolved == Path.cwd().resolve() or resolved in Path.cwd().resolve().parents:
        raise OutputDirError(f"output directory {str(out)!r} is the current directory or holds it; give a new "
                             "directory, such as ./my-artefact")
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"output path {str(out)!r} is a file, not a directory; choose another --out")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise OutputDirError(f"output directory {str(out)!r} exists and is not empty; "
                                 "use --force to replace an earlier edgekit output, or choose another --out")
        foreign = _foreign(out)
        if foreign:
            shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
            raise OutputDirError(f"--force refused: {str(out)!r} holds files edgekit did not write ({shown}); "
                                 "move them away or choose another --out")
    parent = _existing_ancestor(out.parent)
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise OutputDirError(f"cannot write to {str(out)!r}: {str(parent)!r} is not a writable directory")


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


# -- temp dirs and their owners ----------------------------------------------------------------------------------
def _owner_text() -> str:
    return json.dumps({"pid": os.getpid(), "host": socket.gethostname()})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _dead_owner(temp: Path) -> bool:
    """Whether the edgekit process that made `temp` (on this host) is gone; False when that cannot be told."""
    owner = _OWNED.match(temp.name[len(TEMP_PREFIX) - 1:])
    if owner is None or owner.group(2) != _host_tag():
        return False
    return not _alive(int(owner.group(1)))


def clean_stale_temps(directory: Path) -> list[tuple[Path, int]]:
    """Remove the temp dirs edgekit runs that died left in `directory`; returns (path, bytes) of each removed."""
    removed = []
    if not directory.is_dir():
        return removed
    for temp in directory.glob(TEMP_PREFIX + "*"):
        if temp.is_dir() and not temp.is_symlink() and _dead_owner(temp):
            size = sum(p.stat().st_size for p in temp.rglob("*") if p.is_file() and not p.is_symlink())
            shutil.rmtree(temp, ignore_errors=True)
            removed.append((temp, size))
    return removed


def _make_temp(parent: Path, name: str, prefix: str = TEMP_PREFIX) -> Path:
    # pid and host in the name, not in a file inside: the temp dir becomes the output, byte for byte
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-{_host_tag()}-{name[:80]}-", dir=parent))


@contextmanager
def _lock(out: Path) -> Iterator[None]:
    """Exclusive for edgekit runs writing `out`; a lock left by a dead process is taken over."""
    lock = out.with_name(out.name + LOCK_SUFFIX)
    for _ in range(2):
        try:
            handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                owner = json.loads(lock.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                owner = {}
            if owner.get("host") == socket.gethostname() and isinstance(owner.get("pid"), int) \
                    and not _alive(owner["pid"]):
                lock.unlink(missing_ok=True)
                continue
            raise OutputDirError(f"another edgekit run (pid {owner.get('pid', '?')}) is writing {str(out)!r}; "
                                 "wait for it, or choose another --out") from None
        except OSError as exc:  # a parent that takes no files (/proc), a read-only file system
            raise OutputDirError(f"cannot write to {str(out)!r}: {exc.strerror or exc}") from None
        with os.fdopen(handle, "w") as written:
            written.write(_owner_text())
        break
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


_RENAME_NOREPLACE = 1


def _rename_no_replace(src: Path, dst: Path) -> None:
    """Rename src to dst, failing if dst exists, atomically (Linux renameat2); elsewhere, check then rename."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        if dst.exists():
            raise FileExistsError(errno.EEXIST, "exists", str(dst)) from None
        os.rename(src, dst)
        return
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(src), at_fdcwd, os.fsencode(dst), _RENAME_NOREPLACE) != 0:
        code = ctypes.get_errno()
        if code in (errno.ENOSYS, errno.EINVAL):  # a file system without RENAME_NOREPLACE
            if dst.exists():
                raise FileExistsError(errno.EEXIST, "exists", str(dst))
            os.rename(src, dst)
            return
        raise OSError(code, os.strerror(code), str(dst))


@contextmanager
def atomic_output_dir(out: Path, *, force: bool, announce: Callable[[str], None] | None = None) -> Iterator[Path]:
    """Yield a temp dir to build in; on success it becomes `out`, on any failure it is removed. `announce`
    hears about temp dirs of dead runs that were cleaned up."""
    out = Path(out)
    check_output_dir(out, force=force)
    created = _missing_ancestors(out.parent)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _remove_empty(created)
        raise OutputDirError(f"cannot write to {str(out)!r}: {exc.strerror or exc}") from None
    for temp, size in clean_stale_temps(out.parent):
        if announce:
            announce(f"removed {temp.name} ({size / 1e6:.1f} MB), left by an edgekit run that was killed")
    succeeded = False
    try:
        with _lock(out):
            try:
                work = _make_temp(out.parent, out.name)
                os.chmod(work, 0o777 & ~_umask())  # mkdtemp makes it private; the result is an ordinary directory
            except OSError as exc:
                raise OutputDirError(f"cannot write to {str(out)!r}: {exc.strerror or exc}") from None
            try:
                yield work
                _replace(work, out, force=force)
                succeeded = True
            finally:
                shutil.rmtree(work, ignore_errors=True)  # only our temp dir; gone already after a rename
    finally:
        if not succeeded:
            _remove_empty(created)  # after the lock file is gone, so that the parents are empty again


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _missing_ancestors(path: Path) -> list[Path]:
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing  # deepest first


def _remove_empty(directories: list[Path]) -> None:
    """Undo the parent directories a failed build created, if they are still empty."""
    for directory in directories:
        try:
            directory.rmdir()
        except OSError:
            return


def _replace(work: Path, out: Path, *, force: bool) -> None:
    """Move `work` to `out`. What is at `out` now is checked again (it may have changed during the build): an
    empty directory is taken over, an earlier edgekit output is replaced only with force, anything else stays."""
    if out.is_dir() and not out.is_symlink() and not any(out.iterdir()):
        out.rmdir()  # empty: nothing to lose (a rename would not take its place)
    if out.exists() or out.is_symlink():
        if not force:
            raise OutputDirError(f"{str(out)!r} appeared while edgekit was building (another process wrote it); "
                                 "it was left as it is: use --force to replace an edgekit output, or choose "
                                 "another --out")
        foreign = _foreign(out) if out.is_dir() and not out.is_symlink() else [out.name]
        if foreign:
            raise OutputDirError(f"--force refused: {str(out)!r} now holds files edgekit did not write "
                                 f"({', '.join(foreign[:5])}); nothing was replaced")
        old = _make_temp(out.parent, out.name, PREVIOUS_PREFIX)
        os.replace(out, old / "previous")
        try:
            _rename_no_replace(work, out)
        except OSError:
            os.replace(old / "previous", out)  # put the earlier output back
            shutil.rmtree(old, ignore_errors=True)
            raise OutputDirError(f"{str(out)!r} appeared again while edgekit replaced it; nothing was replaced")
        shutil.rmtree(old, ignore_errors=True)
        return
    try:
        _rename_no_replace(work, out)
    except FileExistsError:
        raise OutputDirError(f"{str(out)!r} appeared while edgekit was finishing; it was left as it is") from None


# -- single files ------------------------------------------------------------------------------------------------
def check_output_file(path: Path | str, *, force: bool, ours: Callable[[Path], bool] | None = None,
                      what: str = "file") -> Path:
    """Refuse, before any work starts, a file output we may not write: a directory, a path we cannot write, or
    an existing file, unless force and `ours` says edgekit wrote it."""
    path = Path(path)
    if path.is_dir():
        raise OutputDirError(f"{what} path {str(path)!r} is a directory; give a file path")
    if path.exists() or path.is_symlink():
        if not force:
            raise OutputDirError(f"{what} {str(path)!r} exists; use --force to replace it, or choose another path")
        if path.is_symlink() or (ours is not None and not ours(path)):
            raise OutputDirError(f"--force refused: {str(path)!r} is not an edgekit {what}; move it away or choose "
                                 "another path")
    parent = _existing_ancestor(path.parent)
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise OutputDirError(f"cannot write {what} {str(path)!r}: {str(parent)!r} is not a writable directory")
    return path


def write_file_atomic(path: Path | str, data: str | bytes, *, mode: int = 0o644) -> Path:
    """Write one file atomically: a temp file beside it, then rename over it. A reader never sees half a
    file, and an interrupted write leaves the old one in place. Callers check the path first
    (check_output_file) for anything they may not replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(temp, mode)  # mkstemp makes it private; what edgekit writes is meant to be shared
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path
