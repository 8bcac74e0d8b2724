"""edgekit.json: the record beside every artefact (source, target, versions, validation, hashes)."""

from __future__ import annotations

import json
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from edgekit import __version__
from edgekit.atomic import RECORD_NAME
from edgekit.hashing import file_table

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


def write_record(directory: Path, fields: dict) -> dict:
    """Write edgekit.json holding `fields` plus hashes of every other file in the directory."""
    record = {
        "schema_version": RECORD_SCHEMA_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **fields,
        "versions": package_versions(),
        "platform": {"machine": platform.machine(), "system": platform.system(), "python": sys.version.split()[0]},
        "files": {name: entry for name, entry in file_table(directory).items() if name != RECORD_NAME},
    }
    (directory / RECORD_NAME).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def read_record(directory: Path) -> dict:
    return json.loads((directory / RECORD_NAME).read_text(encoding="utf-8"))
