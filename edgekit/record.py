"""edgekit.json: the record beside every artefact (source, target, versions, validation, hashes)."""

from __future__ import annotations

import functools
import json
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from edgekit import __version__
from edgekit.atomic import RECORD_NAME
from edgekit.hashing import file_table, sha256_tree

RECORD_SCHEMA_VERSION = 1
_PACKAGES = ("numpy", "torch", "transformers", "tokenizers", "onnx", "onnxruntime", "openvino", "nncf",
             "optimum", "optimum-onnx", "neural-compressor")


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version(), "edgekit": __version__}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def source_fingerprint(package: Path) -> str:
    """A digest of a package's files, leaving out its benchmark harness (bench/) and bytecode caches."""
    files = [p for p in package.rglob("*") if p.is_file() and p.suffix != ".pyc"
             and p.relative_to(package).parts[0] not in ("bench", "__pycache__")]
    return sha256_tree(files, package)[:16]


@functools.cache
def code_fingerprint() -> str:
    """The fingerprint of the edgekit code and data that build artefacts, so an artefact built by other
    edgekit code is never taken for one this code would build."""
    return source_fingerprint(Path(__file__).resolve().parent)


def build_versions() -> dict[str, str | None]:
    """What built an artefact: package versions and the edgekit code fingerprint."""
    return {**package_versions(), "edgekit_code": code_fingerprint()}


def write_record(directory: Path, fields: dict) -> dict:
    """Write edgekit.json holding `fields` plus hashes of every other file in the directory."""
    record = {
        "schema_version": RECORD_SCHEMA_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **fields,
        "versions": build_versions(),
        "platform": {"machine": platform.machine(), "system": platform.system(), "python": sys.version.split()[0]},
        "files": {name: entry for name, entry in file_table(directory).items() if name != RECORD_NAME},
    }
    (directory / RECORD_NAME).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def read_record(directory: Path) -> dict:
    return json.loads((directory / RECORD_NAME).read_text(encoding="utf-8"))
