"""Bundles as .zip files: written atomically, extracted safely.

Extraction refuses any entry that would land outside the target directory (absolute paths, `..`), and any
symbolic link, before writing a byte; it extracts into a temp directory and renames it into place.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from edgekit.errors import BundleError, OutputDirError


def make_zip(bundle_dir: Path, zip_path: Path, *, force: bool = False) -> Path:
    bundle_dir, zip_path = Path(bundle_dir), Path(zip_path)
    if zip_path.exists() and not force:
        raise OutputDirError(f"'{zip_path}' exists; use --force to replace it")
    handle, temp = tempfile.mkstemp(prefix=f".{zip_path.name}.", dir=zip_path.parent)
    os.close(handle)
    try:
        with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(bundle_dir.rglob("*")):
                if path.is_file():
                    archive.write(path, f"{bundle_dir.name}/{path.relative_to(bundle_dir).as_posix()}")
        os.chmod(temp, 0o644)
        os.replace(temp, zip_path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return zip_path


def _check_entry(info: zipfile.ZipInfo, zip_path: Path) -> None:
    name = info.filename
    parts = PurePosixPath(name).parts
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts or "\\" in name:
        raise BundleError(f"refusing '{zip_path}': entry {name!r} would be written outside the target directory")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise BundleError(f"refusing '{zip_path}': entry {name!r} is a symbolic link")


def extract_bundle(zip_path: Path, dest: Path) -> Path:
    """Extract a bundle zip into dest (which must not exist) and return the bundle directory inside it."""
    zip_path, dest = Path(zip_path), Path(dest)
    if dest.exists():
        raise OutputDirError(f"'{dest}' exists; extract into a new directory")
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleError(f"'{zip_path}' is not a readable zip file ({exc})") from None
    with archive:
        entries = archive.infolist()
        for info in entries:
            _check_entry(info, zip_path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
        os.chmod(work, 0o755)  # mkdtemp makes it private; the bundle is read by whoever runs the app
        try:
            for info in entries:
                target = work / info.filename
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out)
                os.chmod(target, 0o444)
            os.replace(work, dest)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    tops = [p for p in dest.iterdir()]
    return tops[0] if len(tops) == 1 and tops[0].is_dir() else dest


@contextmanager
def opened_bundle(path: Path) -> Iterator[Path]:
    """A bundle directory as it is, or a .zip extracted safely into a temp dir that is removed afterwards."""
    path = Path(path)
    if path.suffix != ".zip" or not path.is_file():
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="edgekit-bundle-") as temp:
        yield extract_bundle(path, Path(temp) / "bundle")
