"""Bundles as .zip files: written atomically and reproducibly, extracted safely.

Extraction checks the whole central directory before writing a byte: the entry count, the declared total size
and compression ratios against limits, and every entry (no absolute paths, `..`, backslashes, drives, links,
encryption, duplicates, file/folder clashes, over-long or non-UTF-8 names). It then extracts into a temp dir
beside the destination, counting the bytes each entry really gives, and renames the temp dir into place; any
failure removes the temp dir and is one BundleError.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import struct
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from edgekit.errors import BundleError, InputError, OutputDirError
from edgekit.runtime.manifest import MANIFEST_FORMAT, MANIFEST_NAME

MAX_BYTES = 4 << 30  # a 125M-parameter fp32 bundle is ~500 MB; a larger one is no edge bundle
MAX_ENTRIES = 10_000  # a bundle has tens of files, hundreds with ONNX external data
MAX_RATIO = 200  # weights compress ~1.1x, tokenizers ~5x; deflate reaches ~1000x only on filler
RATIO_FLOOR = 1 << 20  # entries smaller than this are never called bombs, whatever their ratio
MAX_PART_BYTES = 255  # the longest file or folder name common file systems store
MAX_NAME_BYTES = 1024
ZIP_COMMENT = b"edgekit.bundle"  # marks the zips edgekit wrote: --force replaces only those
_MANIFEST_MAX_BYTES = 64 << 20
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip stores: the same bundle gives the same zip bytes
_CHUNK = 1 << 20
_UTF8_FLAG = 0x800
_ENCRYPTED_FLAG = 0x1
_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bzip2",
            zipfile.ZIP_LZMA: "lzma"}

# What reading a damaged zip can raise: zipfile's own errors, and those of the decompressors under it.
_READ_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, RuntimeError, NotImplementedError, ValueError,
    struct.error, OSError)
try:
    import lzma

    _READ_ERRORS += (lzma.LZMAError,)
except ImportError:  # a Python built without lzma cannot read lzma entries anyway
    pass


# -- writing -----------------------------------------------------------------------------------------------------
def check_zip_path(zip_path: Path, *, force: bool) -> None:
    """Refuse, before any work starts, a zip path we may not write: a directory, link or special file there, a
    file there without force, a file there that edgekit did not write (even with force), or a parent we
    cannot write in."""
    zip_path = Path(zip_path)
    if zip_path.is_symlink():
        raise OutputDirError(f"zip path '{zip_path}' is a symbolic link; remove it or choose another --out")
    if zip_path.is_dir():
        raise OutputDirError(f"zip path '{zip_path}' is a directory, not a zip file; remove it or choose "
                             "another --out")
    if zip_path.exists():
        if not zip_path.is_file():
            raise OutputDirError(f"zip path '{zip_path}' is a special file, not a zip file; choose another --out")
        if not force:
            raise OutputDirError(f"'{zip_path}' exists; use --force to replace a zip edgekit wrote, or choose "
                                 "another --out")
        if not is_edgekit_zip(zip_path):
            raise OutputDirError(f"--force refused: '{zip_path}' is not a bundle zip edgekit wrote; move it away "
                                 "or choose another --out")
    parent = _existing_ancestor(zip_path.parent)
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise OutputDirError(f"cannot write '{zip_path}': '{parent}' is not a writable directory")


def is_edgekit_zip(zip_path: Path) -> bool:
    """Whether zip_path is a bundle zip edgekit wrote: marked by its comment, or (zips from before the mark)
    everything under one folder that holds an edgekit manifest."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            if archive.comment == ZIP_COMMENT:
                return True
            names = archive.namelist()
            tops = {name.split("/", 1)[0] for name in names}
            if len(tops) != 1 or not all("/" in name for name in names):
                return False
            info = archive.getinfo(f"{tops.pop()}/{MANIFEST_NAME}")
            if info.file_size > _MANIFEST_MAX_BYTES:
                return False
            manifest = json.loads(archive.read(info))
    except (KeyError, *_READ_ERRORS):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == MANIFEST_FORMAT


def make_zip(bundle_dir: Path, zip_path: Path, *, force: bool = False) -> Path:
    """Write bundle_dir as zip_path, every file under the bundle dir's name; entries sorted, with fixed times
    and modes, so the same bundle gives the same bytes. The zip appears complete or not at all."""
    bundle_dir, zip_path = Path(bundle_dir), Path(zip_path)
    if not bundle_dir.is_dir() or bundle_dir.is_symlink():
        raise BundleError(f"cannot zip '{bundle_dir}': it is not a directory")
    if zip_path.resolve().is_relative_to(bundle_dir.resolve()):
        raise OutputDirError(f"zip path '{zip_path}' is inside the bundle '{bundle_dir}'; write it beside the "
                             "bundle")
    check_zip_path(zip_path, force=force)
    entries = _bundle_entries(bundle_dir)
    _check_entries([info for info, _ in entries], f"cannot zip '{bundle_dir}'")  # never write a zip we refuse
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{zip_path.name}.", dir=zip_path.parent)
    os.close(handle)
    try:
        with zipfile.ZipFile(temp, "w") as archive:
            for info, path in entries:
                with open(path, "rb") as source, archive.open(info, "w") as out:
                    shutil.copyfileobj(source, out, _CHUNK)
            archive.comment = ZIP_COMMENT
        os.chmod(temp, 0o644)
        os.replace(temp, zip_path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return zip_path


def _bundle_entries(bundle_dir: Path) -> list[tuple[zipfile.ZipInfo, Path]]:
    top = bundle_dir.resolve().name
    entries = []
    for path in bundle_dir.rglob("*"):
        relative = path.relative_to(bundle_dir).as_posix()
        if path.is_symlink():
            raise BundleError(f"cannot zip '{bundle_dir}': '{relative}' is a symbolic link; a bundle holds plain "
                              "files and folders only")
        if path.is_dir():
            continue
        if not path.is_file():
            raise BundleError(f"cannot zip '{bundle_dir}': '{relative}' is a special file; a bundle holds plain "
                              "files and folders only")
        info = zipfile.ZipInfo(f"{top}/{relative}", date_time=_FIXED_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.create_system = 3  # unix, wherever it was written, so the mode below is read the same everywhere
        info.external_attr = (stat.S_IFREG | 0o444) << 16
        info.file_size = path.stat().st_size  # lets zipfile choose zip64 up front for files over 2 GiB
        if not info.filename.isascii():
            info.flag_bits |= _UTF8_FLAG
        entries.append((info, path))
    return sorted(entries, key=lambda entry: entry[0].filename)


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


# -- reading -----------------------------------------------------------------------------------------------------
def extract_bundle(zip_path: Path, dest: Path, *, max_bytes: int = MAX_BYTES, max_entries: int = MAX_ENTRIES,
                   max_ratio: float = MAX_RATIO) -> Path:
    """Extract a bundle zip into dest (which must not exist) and return the bundle directory inside it.

    Refused before a byte is written: more than max_entries entries, more than max_bytes unpacked, an entry of
    1 MiB or more that unpacks to over max_ratio times its compressed size, and any unsafe entry. dest appears
    complete or not at all."""
    zip_path, dest = Path(zip_path), Path(dest)
    _check_limit("max_bytes", max_bytes, int)
    _check_limit("max_entries", max_entries, int)
    _check_limit("max_ratio", max_ratio, (int, float))
    if dest.exists() or dest.is_symlink():
        raise OutputDirError(f"'{dest}' exists; extract into a new directory")
    where = f"refusing '{zip_path}'"
    with _open_zip(zip_path) as archive:
        infos = archive.infolist()
        if len(infos) > max_entries:
            raise BundleError(f"{where}: it has {len(infos)} entries; the limit, max_entries, is {max_entries}")
        names = _check_entries(infos, where)
        _check_sizes(infos, names, where, max_bytes=max_bytes, max_ratio=max_ratio)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            work = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
        except OSError as exc:
            raise OutputDirError(f"cannot extract into '{dest}': {_reason(exc)}") from None
        try:
            os.chmod(work, 0o755)  # mkdtemp makes it private; the bundle is read by whoever runs the app
            for info, name in zip(infos, names):
                _extract_entry(archive, info, name, work, zip_path)
            try:
                os.replace(work, dest)
            except OSError as exc:
                raise OutputDirError(f"cannot extract into '{dest}': {_reason(exc)}") from None
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    tops = list(dest.iterdir())
    return tops[0] if len(tops) == 1 and tops[0].is_dir() else dest


@contextmanager
def opened_bundle(path: Path, *, max_bytes: int = MAX_BYTES, max_entries: int = MAX_ENTRIES,
                  max_ratio: float = MAX_RATIO) -> Iterator[Path]:
    """A bundle directory as it is, or a .zip extracted safely into a temp dir that is removed afterwards."""
    path = Path(path)
    if path.suffix != ".zip" or not path.is_file():
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="edgekit-bundle-") as temp:
        yield extract_bundle(path, Path(temp) / "bundle", max_bytes=max_bytes, max_entries=max_entries,
                             max_ratio=max_ratio)


def _check_limit(what: str, value: object, kind: type | tuple[type, ...]) -> None:
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0:
        raise InputError(f"{what} must be a positive number, not {value!r}")


def _open_zip(zip_path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(zip_path)
    except FileNotFoundError:
        raise BundleError(f"'{zip_path}' does not exist") from None
    except UnicodeDecodeError:  # zipfile decodes names flagged UTF-8 as it opens
        raise BundleError(f"refusing '{zip_path}': an entry name is marked UTF-8 but is not valid UTF-8; entry "
                          "names must be UTF-8 text") from None
    except _READ_ERRORS as exc:
        raise BundleError(f"'{zip_path}' is not a readable zip file ({_reason(exc)})") from None


def _entry_name(info: zipfile.ZipInfo, where: str) -> str:
    """The entry's name as UTF-8 text; zipfile reads names without the UTF-8 flag as cp437."""
    raw = info.orig_filename  # zipfile cuts `filename` at a NUL byte; the original keeps it
    if "\x00" in raw:
        raise BundleError(f"{where}: entry {raw!r} has a NUL byte in its name; entry names are plain text")
    try:
        if not info.flag_bits & _UTF8_FLAG and not raw.isascii():
            return raw.encode("cp437").decode("utf-8")
        raw.encode("utf-8")  # a name from disk may hold undecodable bytes as surrogates
    except UnicodeError:
        shown = raw.encode("utf-8", "surrogateescape") if info.flag_bits & _UTF8_FLAG else raw.encode("cp437")
        raise BundleError(f"{where}: entry {shown!r} has a name that is not valid UTF-8; entry names must be UTF-8 "
                          "text") from None
    return raw


def _short(name: str) -> str:
    return repr(name) if len(name) <= 60 else repr(name[:40] + "...")


def _check_entries(infos: list[zipfile.ZipInfo], where: str) -> list[str]:
    """Each entry's name, once every entry is known safe to extract; otherwise a BundleError naming the entry."""
    names = []
    seen: dict[str, str] = {}  # normalised name -> entry: duplicates, and names equal on case-insensitive disks
    folders: dict[str, str] = {}  # normalised folder -> an entry inside it
    files = []
    for info in infos:
        name = _entry_name(info, where)
        body = name.removesuffix("/")
        parts = body.split("/")
        if not body:
            raise BundleError(f"{where}: it has an entry with an empty name; every entry needs a name")
        if any(ch < " " or ch == "\x7f" for ch in name):
            raise BundleError(f"{where}: entry {name!r} has a control character in its name; entry names are "
                              "plain text")
        if name.startswith("/") or "\\" in name or ":" in name or ".." in parts:
            raise BundleError(f"{where}: entry {name!r} would be written outside the target directory; entry names "
                              "are relative paths with '/' between folders, no '..', '\\' or ':'")
        if any(part in ("", ".") for part in parts):
            raise BundleError(f"{where}: entry {name!r} is not a plain relative path (an empty or '.' part); "
                              "write 'a/b', not 'a//b' or 'a/./b'")
        longest = max(parts, key=lambda part: len(part.encode("utf-8")))
        if len(longest.encode("utf-8")) > MAX_PART_BYTES:
            raise BundleError(f"{where}: entry {_short(name)} has a file or folder name of "
                              f"{len(longest.encode('utf-8'))} bytes; the limit is {MAX_PART_BYTES}")
        if len(name.encode("utf-8")) > MAX_NAME_BYTES:
            raise BundleError(f"{where}: entry {_short(name)} has a name of {len(name.encode('utf-8'))} bytes; the "
                              f"limit is {MAX_NAME_BYTES}")
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind == stat.S_IFLNK:
            raise BundleError(f"{where}: entry {name!r} is a symbolic link; a bundle holds plain files and folders "
                              "only")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise BundleError(f"{where}: entry {name!r} is a special file; a bundle holds plain files and folders "
                              "only")
        if info.flag_bits & _ENCRYPTED_FLAG:
            raise BundleError(f"{where}: entry {name!r} is encrypted; bundle zips are never encrypted")
        if info.compress_type not in _METHODS:
            raise BundleError(f"{where}: entry {name!r} uses compression method {info.compress_type}; valid: "
                              f"{', '.join(_METHODS.values())}")
        key = unicodedata.normalize("NFC", body).casefold()
        if key in seen:
            other = seen[key]
            if other == name:
                raise BundleError(f"{where}: entry {name!r} appears twice; entry names must be unique")
            if other.endswith("/") != name.endswith("/"):
                raise BundleError(f"{where}: entries {other!r} and {name!r} make a file and a folder of one name; "
                                  "a name is one or the other")
            raise BundleError(f"{where}: entries {other!r} and {name!r} differ only in case or Unicode form, so "
                              "they are one file on many systems; entry names must differ otherwise")
        seen[key] = name
        if name.endswith("/"):
            folders.setdefault(key, name)
        else:
            files.append((key, name))
        for depth in range(1, len(parts)):
            folders.setdefault(unicodedata.normalize("NFC", "/".join(parts[:depth])).casefold(), name)
        names.append(name)
    for key, name in files:
        if key in folders:
            raise BundleError(f"{where}: entry {name!r} is a file, but entry {folders[key]!r} needs a folder of "
                              "that name; a name is one or the other")
    return names


def _size(count: int) -> str:
    return f"{count} bytes ({count / 2**20:.1f} MiB)"


def _check_sizes(infos: list[zipfile.ZipInfo], names: list[str], where: str, *, max_bytes: int,
                 max_ratio: float) -> None:
    """The sizes the central directory declares; extraction then holds each entry to its declared size."""
    total = sum(info.file_size for info in infos)
    if total > max_bytes:
        raise BundleError(f"{where}: it unpacks to {_size(total)}; the limit, max_bytes, is {_size(max_bytes)}")
    for info, name in zip(infos, names):
        if info.file_size >= RATIO_FLOOR and info.file_size > max_ratio * info.compress_size:
            ratio = info.file_size / max(info.compress_size, 1)
            raise BundleError(f"{where}: entry {name!r} unpacks {info.compress_size} bytes to "
                              f"{_size(info.file_size)}, {ratio:.0f} times; the limit, max_ratio, is {max_ratio:g} times "
                              "(a zip bomb?)")


def _extract_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, work: Path, zip_path: Path) -> None:
    target = work.joinpath(*name.rstrip("/").split("/"))

    def unwritable(exc: OSError) -> BundleError:
        return BundleError(f"could not extract entry {name!r} of '{zip_path}': {_reason(exc)}")

    def corrupt(exc: BaseException) -> BundleError:
        return BundleError(f"'{zip_path}' is corrupt: entry {name!r} cannot be read ({_reason(exc)})")

    try:
        (target if name.endswith("/") else target.parent).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise unwritable(exc) from None
    if name.endswith("/"):
        return
    try:
        source = archive.open(info)
    except _READ_ERRORS as exc:
        raise corrupt(exc) from None

    def read(size: int) -> bytes:
        try:
            return source.read(size)
        except _READ_ERRORS as exc:
            raise corrupt(exc) from None

    with source:
        try:
            with open(target, "xb") as out:
                # Held to its declared size, and the declared sizes sum to at most max_bytes: however the
                # directory lies, no more than max_bytes reach the disk.
                copied = copy_limited(read, out.write, limit=info.file_size)
            os.chmod(target, 0o444)
        except OSError as exc:
            raise unwritable(exc) from None
    if copied > info.file_size:
        raise BundleError(f"refusing '{zip_path}': entry {name!r} holds more than the {info.file_size} bytes its "
                          "directory declares (a zip bomb, or a corrupt zip)")
    if copied < info.file_size:
        raise BundleError(f"'{zip_path}' is corrupt: entry {name!r} holds {copied} bytes, not the "
                          f"{info.file_size} its directory declares")


def copy_limited(read: Callable[[int], bytes], write: Callable[[bytes], object], *, limit: int) -> int:
    """Copy from read to write until the source ends or has given more than `limit` bytes; returns the count
    read, at most limit + 1. The chunk that passes the limit is not written."""
    copied = 0
    while copied <= limit:
        chunk = read(min(_CHUNK, limit + 1 - copied))
        if not chunk:
            break
        copied += len(chunk)
        if copied > limit:
            break
        write(chunk)
    return copied


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
