"""Bundle zips: unsafe, oversized or damaged zips are refused in one line and leave nothing behind; the zip
path is checked before any work; make_zip writes the same bytes for the same bundle."""

from __future__ import annotations

import io
import json
import os
import stat
import struct
import warnings
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgekit.cli import cli
from edgekit.errors import BundleError, InputError, OutputDirError
from edgekit.runtime import archive
from edgekit.runtime.archive import (
    ZIP_COMMENT,
    check_zip_path,
    copy_limited,
    extract_bundle,
    is_edgekit_zip,
    make_zip,
    opened_bundle,
)

MB = 1 << 20


# -- building zips, good and bad ---------------------------------------------------------------------------------
def _write(path: Path, entries, *, compression=zipfile.ZIP_DEFLATED) -> Path:
    """entries: (name or ZipInfo, bytes); duplicates allowed (zipfile only warns)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(path, "w", compression=compression) as out:
            for name, data in entries:
                out.writestr(name, data)
    return path


def _zeros(path: Path, size: int, *, name="bundle/weights.bin", first=()) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as out:
        for entry, data in first:
            out.writestr(entry, data)
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        with out.open(info, "w", force_zip64=True) as stream:
            for _ in range(size // MB):
                stream.write(bytes(MB))
    return path


def _central(data: bytes, name: bytes) -> int:
    """Offset of the central directory header of entry `name`."""
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46:at + 46 + length] == name:
            return at
        at = data.find(b"PK\x01\x02", at + 1)
    raise LookupError(name)


def _patched(path: Path, name: str, *, central: dict[int, tuple[str, int]] = (), local: dict = (),
             rename: bytes | None = None) -> Path:
    """Overwrite fields of one entry's headers (offset: (struct format, value)), or its name's bytes."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        header = zf.getinfo(name).header_offset
    at = _central(bytes(data), name.encode())
    for offset, (fmt, value) in dict(central).items():
        struct.pack_into(fmt, data, at + offset, value)
    for offset, (fmt, value) in dict(local).items():
        struct.pack_into(fmt, data, header + offset, value)
    if rename is not None:
        assert len(rename) == len(name.encode())
        data[at + 46:at + 46 + len(rename)] = rename
        data[header + 30:header + 30 + len(rename)] = rename
    path.write_bytes(bytes(data))
    return path


def _flip_data_byte(path: Path, name: str) -> Path:
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)
    start = info.header_offset + 30 + name_len + extra_len
    data[start + info.compress_size // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def _link(path: Path) -> Path:
    info = zipfile.ZipInfo("bundle/model.onnx")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return _write(path, [(info, "/etc/passwd")])


GOOD = ("bundle/manifest.json", b"{}")

# (id, make(path) -> zip, keyword limits, message fragment)
REFUSED = [
    ("bomb-over-max-bytes", lambda p: _zeros(p, 50 * MB), {"max_bytes": MB},
     "unpacks to 52428800 bytes (50.0 MiB); the limit, max_bytes, is 1048576 bytes"),
    ("bomb-ratio", lambda p: _zeros(p, 50 * MB), {}, "times; the limit, max_ratio, is 200 times"),
    ("too-many-entries", lambda p: _write(p, [(f"bundle/{i}", b"") for i in range(11)]), {"max_entries": 10},
     "it has 11 entries; the limit, max_entries, is 10"),
    ("too-many-entries-default", lambda p: _write(p, [(f"b/{i}", b"") for i in range(10_001)]), {},
     "it has 10001 entries; the limit, max_entries, is 10000"),
    ("file-then-folder", lambda p: _write(p, [("bundle/a", b"x"), ("bundle/a/b", b"y")]), {},
     "entry 'bundle/a' is a file, but entry 'bundle/a/b' needs a folder"),
    ("folder-then-file", lambda p: _write(p, [("bundle/a/b", b"y"), ("bundle/a", b"x")]), {},
     "entry 'bundle/a' is a file, but entry 'bundle/a/b' needs a folder"),
    ("dir-entry-and-file", lambda p: _write(p, [("bundle/a/", b""), ("bundle/a", b"x")]), {},
     "entries 'bundle/a/' and 'bundle/a' make a file and a folder of one name"),
    ("duplicate", lambda p: _write(p, [GOOD, GOOD]), {}, "entry 'bundle/manifest.json' appears twice"),
    ("case-clash", lambda p: _write(p, [("bundle/Vocab.txt", b"x"), ("bundle/vocab.txt", b"y")]), {},
     "differ only in case"),
    ("300-byte-name", lambda p: _write(p, [("bundle/" + "a" * 300, b"x")]), {},
     "has a file or folder name of 300 bytes; the limit is 255"),
    ("long-full-name", lambda p: _write(p, [("/".join(["d" * 250] * 5), b"x")]), {},
     "has a name of 1254 bytes; the limit is 1024"),
    ("empty-name", lambda p: _write(p, [("/", b"")]), {}, "an entry with an empty name"),
    ("nul-in-name", lambda p: _patched(_write(p, [("bundle/aXb", b"x")]), "bundle/aXb", rename=b"bundle/a\0b"), {},
     "has a NUL byte in its name"),
    ("control-char", lambda p: _write(p, [("bundle/a\nb", b"x")]), {}, "has a control character"),
    ("not-utf8", lambda p: _patched(_write(p, [("bundle/XX", b"x")]), "bundle/XX", rename=b"bundle/\xff\xfe"), {},
     "entry b'bundle/\\xff\\xfe' has a name that is not valid UTF-8"),
    ("flagged-utf8-not-utf8", lambda p: _patched(_write(p, [("bundle/XX", b"x")]), "bundle/XX",
                                                rename=b"bundle/\xff\xfe", central={8: ("<H", 0x800)}), {},
     "is marked UTF-8 but is not valid UTF-8"),
    ("absolute", lambda p: _write(p, [("/etc/evil", b"x")]), {}, "outside the target directory"),
    ("dot-dot", lambda p: _write(p, [GOOD, ("../../evil.txt", b"owned")]), {}, "outside the target directory"),
    ("backslash", lambda p: _write(p, [("bundle\\..\\..\\evil", b"x")]), {}, "outside the target directory"),
    ("drive", lambda p: _write(p, [("C:/evil", b"x")]), {}, "outside the target directory"),
    ("double-slash", lambda p: _write(p, [("bundle//a", b"x")]), {}, "is not a plain relative path"),
    ("symlink", _link, {}, "is a symbolic link"),
    ("encrypted", lambda p: _patched(_write(p, [GOOD]), GOOD[0], central={8: ("<H", 1)}, local={6: ("<H", 1)}),
     {}, "entry 'bundle/manifest.json' is encrypted"),
    ("unknown-method", lambda p: _patched(_write(p, [GOOD]), GOOD[0], central={10: ("<H", 99)}), {},
     "uses compression method 99; valid: stored, deflate"),
    ("crc-stored", lambda p: _flip_data_byte(_write(p, [GOOD, ("bundle/w.bin", os.urandom(4096))],
                                                    compression=zipfile.ZIP_STORED), "bundle/w.bin"), {},
     "is corrupt: entry 'bundle/w.bin' cannot be read (Bad CRC-32"),
    ("crc-deflated", lambda p: _flip_data_byte(_write(p, [GOOD, ("bundle/w.bin", b"abc" * 5000)]),
                                               "bundle/w.bin"), {},
     "is corrupt: entry 'bundle/w.bin' cannot be read"),
    # The directory says 1000 bytes; the data is 50 MB of zeros: zipfile stops at 1000, then the CRC fails.
    ("declared-size-lie", lambda p: _patched(_zeros(p, 50 * MB, first=[GOOD]), "bundle/weights.bin",
                                             central={24: ("<L", 1000)}), {},
     "is corrupt: entry 'bundle/weights.bin' cannot be read"),
    ("not-a-zip", lambda p: p.write_bytes(b"not a zip at all") and p, {}, "is not a readable zip file"),
    ("truncated", lambda p: p.write_bytes(_write(p, [GOOD]).read_bytes()[:-10]) and p, {},
     "is not a readable zip file"),
]


@pytest.mark.parametrize("make, limits, message", [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED])
def test_refused_zips_leave_nothing(tmp_path, make, limits, message):
    zip_path = make(tmp_path / "in.zip")
    parent = tmp_path / "out"
    parent.mkdir()
    with pytest.raises(BundleError) as caught:
        extract_bundle(zip_path, parent / "bundle", **limits)
    text = str(caught.value)
    assert message in text and "\n" not in text and str(zip_path) in text
    assert os.listdir(parent) == []  # no destination, no temp dir
    assert sorted(os.listdir(tmp_path)) == ["in.zip", "out"]


@pytest.mark.parametrize("extra, message", [(1000, "holds more than the 5 bytes its directory declares"),
                                            (-3, "holds 2 bytes, not the 5 its directory declares")])
def test_extraction_counts_real_bytes(tmp_path, monkeypatch, extra, message):
    # zipfile itself holds an entry to its declared size; extraction must not rely on that.
    zip_path = _write(tmp_path / "in.zip", [GOOD, ("bundle/w.bin", b"12345")])
    real_open = zipfile.ZipFile.open

    def lying_open(self, info, *args, **kwargs):
        if info.filename != "bundle/w.bin":
            return real_open(self, info, *args, **kwargs)
        return io.BytesIO(b"\0" * (info.file_size + extra))

    monkeypatch.setattr(zipfile.ZipFile, "open", lying_open)
    parent = tmp_path / "out"
    parent.mkdir()
    with pytest.raises(BundleError, match=message):
        extract_bundle(zip_path, parent / "bundle")
    assert os.listdir(parent) == []


@pytest.mark.parametrize("size, limit, copied, written", [(100, 10, 11, 0), (10, 10, 10, 10), (0, 0, 0, 0),
                                                          (3 * MB, 2 * MB + 5, 2 * MB + 6, 2 * MB)])
def test_copy_limited_stops_one_byte_past_the_limit(size, limit, copied, written):
    sink = io.BytesIO()
    assert copy_limited(io.BytesIO(b"x" * size).read, sink.write, limit=limit) == copied
    assert len(sink.getvalue()) == written


@pytest.mark.parametrize("limits, message", [({"max_bytes": 0}, "max_bytes must be a positive number, not 0"),
                                             ({"max_entries": -1}, "max_entries must be a positive number"),
                                             ({"max_bytes": 1.5}, "max_bytes must be a positive number, not 1.5"),
                                             ({"max_ratio": float("nan")}, "max_ratio must be a positive")])
def test_bad_limits(tmp_path, limits, message):
    with pytest.raises(InputError, match=message):
        extract_bundle(_write(tmp_path / "in.zip", [GOOD]), tmp_path / "out", **limits)


def test_existing_destination_is_refused(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(OutputDirError, match="exists; extract into a new directory"):
        extract_bundle(_write(tmp_path / "in.zip", [GOOD]), tmp_path / "out")


@pytest.mark.parametrize("entries, limits, files", [
    ([GOOD, ("bundle/sub/a.txt", b"a")], {}, {"manifest.json": b"{}", "sub/a.txt": b"a"}),
    # just under every limit: 2 entries, 10 bytes
    ([("bundle/a", b"12345"), ("bundle/b", b"67890")], {"max_entries": 2, "max_bytes": 10},
     {"a": b"12345", "b": b"67890"}),
    # a large, very compressible entry passes when the ratio allows it
    ([("bundle/zeros", bytes(2 * MB))], {"max_ratio": 2000}, {"zeros": bytes(2 * MB)}),
    # below the 1 MiB floor no ratio is a bomb
    ([("bundle/zeros", bytes(MB - 1))], {}, {"zeros": bytes(MB - 1)}),
])
def test_safe_zips_extract(tmp_path, entries, limits, files):
    bundle = extract_bundle(_write(tmp_path / "in.zip", entries), tmp_path / "out", **limits)
    assert bundle == tmp_path / "out" / "bundle"
    got = {p.relative_to(bundle).as_posix(): p.read_bytes() for p in bundle.rglob("*") if p.is_file()}
    assert got == files
    assert {stat.S_IMODE((bundle / name).stat().st_mode) for name in files} == {0o444}
    assert sorted(os.listdir(tmp_path)) == ["in.zip", "out"]


def test_utf8_name_without_the_flag_keeps_its_name(tmp_path):
    # Info-ZIP and others write UTF-8 names without the UTF-8 flag; zipfile reads those as cp437.
    name = "bundle/é.txt".encode()
    zip_path = _patched(_write(tmp_path / "in.zip", [("bundle/XX.txt", b"x")]), "bundle/XX.txt", rename=name)
    bundle = extract_bundle(zip_path, tmp_path / "out")
    assert [p.name for p in bundle.iterdir()] == ["é.txt"]


def test_opened_bundle_removes_its_temp_dir_and_passes_limits(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    zip_path = _write(tmp_path / "in.zip", [GOOD, ("bundle/a", b"12345")])
    with opened_bundle(zip_path) as bundle:
        assert (bundle / "a").read_bytes() == b"12345"
    with pytest.raises(BundleError, match="the limit, max_bytes, is 4 bytes"), opened_bundle(zip_path, max_bytes=4):
        pass
    assert os.listdir(tmp_path / "tmp") == []
    with opened_bundle(tmp_path) as same:  # a directory is used as it is
        assert same == tmp_path


# -- through the CLI ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, message", [
    (lambda p: _zeros(p, 50 * MB), "times; the limit, max_ratio, is 200 times"),
    (lambda p: _write(p, [GOOD, ("../../evil.txt", b"owned")]), "outside the target directory"),
    (lambda p: _flip_data_byte(_write(p, [GOOD, ("bundle/w.bin", os.urandom(4096))],
                                      compression=zipfile.ZIP_STORED), "bundle/w.bin"), "Bad CRC-32"),
], ids=["bomb", "dot-dot", "crc"])
def test_cli_verify_says_one_line(tmp_path, make, message):
    zip_path = make(tmp_path / "in.zip")
    result = CliRunner().invoke(cli, ["verify", str(zip_path)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgekit: error:") and message in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path.parent / "evil.txt").exists()


# -- the zip path, before any work -------------------------------------------------------------------------------
def _bundle_dir(root: Path, fmt="edgekit.bundle") -> Path:
    bundle = root / "bundle"
    (bundle / "sub").mkdir(parents=True)
    (bundle / "manifest.json").write_text(json.dumps({"format": fmt, "files": {}}))
    (bundle / "sub" / "vocab.txt").write_text("a\nb\n")
    return bundle


def _legacy_zip(path: Path, fmt="edgekit.bundle") -> Path:
    """A zip as edgekit wrote them before the comment mark."""
    return _write(path, [("clf/manifest.json", json.dumps({"format": fmt})), ("clf/model.onnx", b"x")])


def _edgekit_zip(path: Path) -> Path:
    return make_zip(_bundle_dir(path.parent / "src"), path)


ZIP_PATHS = [
    # (id, prepare(tmp) -> zip path, force, message or None when accepted)
    ("new", lambda t: t / "b.zip", False, None),
    ("new-in-new-folders", lambda t: t / "x" / "y" / "b.zip", False, None),
    ("ours-no-force", lambda t: _edgekit_zip(t / "b.zip"), False, "exists; use --force"),
    ("ours-force", lambda t: _edgekit_zip(t / "b.zip"), True, None),
    ("legacy-ours-force", lambda t: _legacy_zip(t / "b.zip"), True, None),
    ("legacy-other-format-force", lambda t: _legacy_zip(t / "b.zip", fmt="other"), True, "--force refused"),
    ("foreign-zip-force", lambda t: _write(t / "b.zip", [("notes.txt", b"mine")]), True, "--force refused"),
    ("foreign-file-force", lambda t: (t / "b.zip").write_text("mine") and t / "b.zip", True, "--force refused"),
    ("directory", lambda t: (t / "b.zip").mkdir() or t / "b.zip", True, "is a directory"),
    ("symlink", lambda t: (t / "b.zip").symlink_to(_edgekit_zip(t / "real.zip")) or t / "b.zip", True,
     "is a symbolic link"),
    ("parent-is-a-file", lambda t: (t / "f").write_text("x") and t / "f" / "b.zip", False,
     "is not a writable directory"),
]


@pytest.mark.parametrize("prepare, force, message", [c[1:] for c in ZIP_PATHS], ids=[c[0] for c in ZIP_PATHS])
def test_check_zip_path(tmp_path, prepare, force, message):
    zip_path = prepare(tmp_path)
    if message is None:
        check_zip_path(zip_path, force=force)
    else:
        with pytest.raises(OutputDirError, match=message):
            check_zip_path(zip_path, force=force)


def test_check_zip_path_unwritable_parent(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # as root every directory is writable
    with pytest.raises(OutputDirError, match=f"'{tmp_path}' is not a writable directory"):
        check_zip_path(tmp_path / "b.zip", force=False)


@pytest.mark.parametrize("existing, force, message", [
    (b"mine", True, "--force refused"),
    (None, False, None),
])
def test_make_zip_checks_its_path_first(tmp_path, existing, force, message):
    bundle = _bundle_dir(tmp_path)
    zip_path = tmp_path / "bundle.zip"
    if existing is not None:
        zip_path.write_bytes(existing)
    if message:
        with pytest.raises(OutputDirError, match=message):
            make_zip(bundle, zip_path, force=force)
        assert zip_path.read_bytes() == existing
    else:
        make_zip(bundle, zip_path, force=force)
        assert is_edgekit_zip(zip_path)
    assert sorted(os.listdir(tmp_path)) == ["bundle", "bundle.zip"]


def test_make_zip_is_reproducible_and_reads_back(tmp_path):
    bundle = _bundle_dir(tmp_path)
    first = make_zip(bundle, tmp_path / "one.zip")
    os.utime(bundle / "manifest.json", (1_000_000, 1_000_000))  # times must not matter
    second = make_zip(bundle, tmp_path / "two.zip")
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as zf:
        assert zf.comment == ZIP_COMMENT
        assert zf.namelist() == ["bundle/manifest.json", "bundle/sub/vocab.txt"]
        assert {info.date_time for info in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    out = extract_bundle(first, tmp_path / "out")
    assert (out / "sub" / "vocab.txt").read_text() == "a\nb\n"
    replaced = make_zip(bundle, first, force=True)  # our own zip may be replaced
    assert replaced.read_bytes() == second.read_bytes()


def _deep_file(bundle: Path) -> None:
    folder = bundle.joinpath(*(letter * 250 for letter in "nmop"))  # each part fits; the whole name does not
    folder.mkdir(parents=True)
    (folder / ("p" * 250)).write_text("x")


@pytest.mark.parametrize("spoil, error, message", [
    (lambda b: (b / "link").symlink_to(b / "manifest.json"), BundleError, "'link' is a symbolic link"),
    (lambda b: (b / "sub" / "dirlink").symlink_to(b.parent), BundleError, "'sub/dirlink' is a symbolic link"),
    (lambda b: os.mkfifo(b / "pipe"), BundleError, "'pipe' is a special file"),
    (_deep_file, BundleError, "the limit is 1024"),
])
def test_make_zip_refuses_what_extraction_would(tmp_path, spoil, error, message):
    bundle = _bundle_dir(tmp_path)
    spoil(bundle)
    with pytest.raises(error, match=message):
        make_zip(bundle, tmp_path / "bundle.zip")
    assert sorted(os.listdir(tmp_path)) == ["bundle"]


def test_make_zip_refuses_a_zip_inside_the_bundle(tmp_path):
    bundle = _bundle_dir(tmp_path)
    with pytest.raises(OutputDirError, match="is inside the bundle"):
        make_zip(bundle, bundle / "sub" / "b.zip")
    assert not (bundle / "sub" / "b.zip").exists()


def test_archive_module_stays_light():
    # The device runtime: standard library and numpy only.
    import ast

    tree = ast.parse(Path(archive.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                 and node.module}
    import sys

    assert imported - set(sys.stdlib_module_names) <= {"edgekit", "numpy"}
