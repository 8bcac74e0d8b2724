"""manifest.json: what a bundle holds and the sha256 of every file. Standard library only, so the
light runtime on a device can check a bundle before loading anything from it."""

from __future__ import annotations

import json
from pathlib import Path

from edgekit.errors import BundleError
from edgekit.runtime.hashing import file_table, sha256_file

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "edgekit.bundle"
MANIFEST_VERSION = 1


def read_manifest(bundle: Path) -> dict:
    """The manifest of a bundle directory, checked for a version this edgekit can read."""
    bundle = Path(bundle)
    path = bundle / MANIFEST_NAME
    if not bundle.is_dir():
        raise BundleError(f"bundle '{bundle}' does not exist or is not a directory")
    if not path.is_file():
        raise BundleError(f"'{bundle}' is not an edgekit bundle: it has no {MANIFEST_NAME}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"'{path}' is not valid JSON ({exc.__class__.__name__})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise BundleError(f"'{path}' is not an edgekit bundle manifest (no \"format\": \"edgekit.bundle\")")
    version = manifest.get("manifest_version")
    if version != MANIFEST_VERSION:
        raise BundleError(f"bundle '{bundle}' has manifest version {version!r}, which this edgekit cannot read; "
                          f"readable: {MANIFEST_VERSION}")
    for key in ("files", "model_file", "runtime", "task", "inputs", "outputs", "max_length", "tokenizer"):
        if key not in manifest:
            raise BundleError(f"bundle manifest '{path}' lacks {key!r}; it is damaged or not from edgekit")
    return manifest


def verify_files(bundle: Path, manifest: dict) -> None:
    """Every listed file is present with its size and sha256, and nothing else is in the bundle."""
    bundle = Path(bundle)
    listed = manifest["files"]
    for name, entry in listed.items():
        path = bundle / name
        if not _inside(bundle, path):
            raise BundleError(f"bundle manifest lists {name!r}, which is outside the bundle")
        if not path.is_file() or path.is_symlink():
            raise BundleError(f"bundle '{bundle}' is missing {name}, which its manifest lists")
        if path.stat().st_size != entry["bytes"] or sha256_file(path) != entry["sha256"]:
            raise BundleError(f"bundle file '{path}' does not match its sha256 in {MANIFEST_NAME}: it was changed "
                              "or damaged; refusing to load it")
    extra = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*")
                   if (p.is_file() or p.is_symlink()) and p.name != MANIFEST_NAME
                   and p.relative_to(bundle).as_posix() not in listed)
    if extra:
        raise BundleError(f"bundle '{bundle}' holds files its manifest does not list ({', '.join(extra[:5])}); "
                          "refusing a bundle that was added to")


def manifest_files(directory: Path) -> dict[str, dict]:
    return {name: entry for name, entry in file_table(directory).items() if name != MANIFEST_NAME}


def write_manifest(directory: Path, fields: dict) -> dict:
    manifest = {"format": MANIFEST_FORMAT, "manifest_version": MANIFEST_VERSION, **fields,
                "files": manifest_files(directory)}
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _inside(root: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False
