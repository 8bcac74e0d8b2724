"""Atomic output directories: build in a temp dir beside the target, rename into place at the end.

An interrupted build leaves no half-written artefact, and edgekit never deletes a file it did not
write: --force replaces a directory only when every file in it is listed in its edgekit.json (or, for a
bundle, its manifest.json).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edgekit.build.record import RECORD_NAME
from edgekit.errors import OutputDirError
from edgekit.runtime.manifest import MANIFEST_FORMAT, MANIFEST_NAME

TEMP_PREFIX = ".edgekit-tmp-"

# The files in which edgekit lists what it wrote beside them: an artefact's record, a bundle's manifest
# (recognised by its format field, so an unrelated manifest.json never counts).
_LISTINGS = ((RECORD_NAME, None), (MANIFEST_NAME, MANIFEST_FORMAT))


def files_written_by_edgekit(directory: Path) -> set[str] | None:
    """Relative paths an edgekit.json or bundle manifest says edgekit wrote there, or None if neither exists."""
    for name, fmt in _LISTINGS:
        try:
            listing = json.loads((directory / name).read_text(encoding="utf-8"))
            if fmt is None or listing.get("format") == fmt:
                return set(listing["files"]) | {name}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
    return None


def check_output_dir(out: Path, *, force: bool) -> None:
    """Refuse, before any work starts, an output dir we may not fill."""
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"output path {str(out)!r} is a file, not a directory; choose another --out")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise OutputDirError(f"output directory {str(out)!r} exists and is not empty; "
                                 "use --force to replace an earlier edgekit artefact, or choose another --out")
        ours = files_written_by_edgekit(out)
        present = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() or p.is_symlink()}
        foreign = sorted(present - ours) if ours is not None else sorted(present)
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


@contextmanager
def atomic_output_dir(out: Path, *, force: bool) -> Iterator[Path]:
    """Yield a temp dir to build in; on success it becomes `out`, on any failure it is removed."""
    check_output_dir(out, force=force)
    created = _missing_ancestors(out.parent)
    succeeded = False
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX + out.name + "-", dir=out.parent))
        os.chmod(work, 0o777 & ~_umask())  # mkdtemp makes it private; the result is an ordinary directory
    except OSError as exc:
        _remove_empty(created)
        raise OutputDirError(f"cannot write to {str(out)!r}: {exc.strerror or exc}") from None
    try:
        yield work
        _replace(work, out)
        succeeded = True
    finally:
        shutil.rmtree(work, ignore_errors=True)  # only our temp dir; gone already after a rename
        if not succeeded:
            _remove_empty(created)


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


def _replace(work: Path, out: Path) -> None:
    if out.is_dir() and any(out.iterdir()):
        # Every file here is ours (checked up front); move it aside so the swap is two renames.
        old = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX + "old-", dir=out.parent))
        os.replace(out, old / "previous")
        os.replace(work, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        if out.is_dir():
            out.rmdir()  # empty: nothing to lose
        os.replace(work, out)


def write_file_atomic(path: Path | str, data: str | bytes, *, mode: int = 0o644) -> Path:
    """Write one file atomically: a temp file beside it, then rename over it. A reader never sees half a
    file, and an interrupted write leaves the old one in place."""
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
