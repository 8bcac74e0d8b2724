"""edgekit.json, the record beside every artefact: its only reader and writer.

It holds the source and its hash, the task, the target and the reason for its choices, the resolved recipe,
what each pass did, the validation figures, package versions and the code fingerprint, and the sha256 of
every file. A build that fails its accuracy budget keeps its best candidate with a record of the same format
and status "rejected". Standard library only: the light install reads records too.
"""

from __future__ import annotations

import functools
import json
import platform
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from edgekit import __version__
from edgekit.errors import RecordError
from edgekit.runtime.hashing import file_table, sha256_tree

RECORD_NAME = "edgekit.json"
RECORD_SCHEMA_VERSION = 1
STATUSES = ("built", "rejected")
_PACKAGES = ("numpy", "torch", "transformers", "tokenizers", "onnx", "onnxruntime", "openvino", "nncf",
             "optimum", "optimum-onnx", "neural-compressor")
# Layers above the build side: changing how artefacts are measured, shown or called rebuilds nothing.
NOT_BUILD_CODE = ("measure", "views", "cli", "__pycache__")


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version(), "edgekit": __version__}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def source_fingerprint(package: Path) -> str:
    """A digest of a package's files, leaving out the layers above the build side and bytecode caches."""
    files = [p for p in package.rglob("*") if p.is_file() and p.suffix != ".pyc"
             and p.relative_to(package).parts[0] not in NOT_BUILD_CODE]
    return sha256_tree(files, package)[:16]


@functools.cache
def code_fingerprint() -> str:
    """The fingerprint of the edgekit code and data that build artefacts, so an artefact built by other
    edgekit code is never taken for one this code would build."""
    return source_fingerprint(Path(__file__).resolve().parent.parent)


def build_versions() -> dict[str, str | None]:
    """What built an artefact: package versions and the edgekit code fingerprint."""
    return {**package_versions(), "edgekit_code": code_fingerprint()}


@dataclass(frozen=True)
class Record:
    """An artefact's edgekit.json: typed accessors over the JSON document (`data`)."""
    data: dict

    # -- what was built, from what -------------------------------------------------------------------
    @property
    def status(self) -> str:
        return self.data.get("status", "built")

    @property
    def target(self) -> dict:
        return self.data["target"]

    @property
    def target_name(self) -> str:
        return self.target["name"]

    @property
    def runtime(self) -> str:
        return self.target["runtime"]

    @property
    def precision(self) -> str:
        return self.target["precision"]

    @property
    def isa(self) -> str | None:
        return self.target.get("isa")

    @property
    def model_file(self) -> str:
        return self.data["model_file"]

    @property
    def task(self) -> str:
        return self.data["task"]

    @property
    def source(self) -> dict:
        return self.data["source"]

    @property
    def source_spec(self) -> str:
        return self.source["spec"]

    @property
    def source_path(self) -> str | None:
        return self.source.get("path")

    @property
    def random_weights(self) -> bool:
        return bool(self.data.get("random_weights"))

    @property
    def random_weights_note(self) -> str | None:
        return self.source.get("note")

    @property
    def recipe_toml(self) -> str | None:
        return self.data.get("recipe")

    @property
    def versions(self) -> dict:
        return self.data.get("versions") or {}

    @property
    def files(self) -> dict[str, dict]:
        return self.data["files"]

    @property
    def size_bytes(self) -> int:
        return sum(int(entry["bytes"]) for entry in self.files.values())

    # -- what the passes did and measured --------------------------------------------------------------
    @property
    def validation(self) -> dict:
        return self.data.get("validation") or {}

    @property
    def quantization(self) -> dict | None:
        return self.data.get("quantization")

    @property
    def quantization_method(self) -> str | None:
        return (self.quantization or {}).get("chosen")

    @property
    def rows(self) -> dict:
        return self.data.get("rows") or {}

    @property
    def openvino(self) -> dict | None:
        return self.data.get("openvino")

    @property
    def inference_precision(self) -> str | None:
        """The OpenVINO precision the artefact was validated at (None for ONNX Runtime)."""
        return (self.openvino or {}).get("inference_precision")


def _check(data: Any, where: Path) -> dict:
    if not isinstance(data, dict):
        raise RecordError(f"'{where}' is not an edgekit record: it holds no JSON object")
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise RecordError(f"'{where}' is not an edgekit record: it has no schema_version")
    if version > RECORD_SCHEMA_VERSION:
        raise RecordError(f"'{where}' was written by a newer edgekit (record schema {version}; this edgekit "
                          f"{__version__} reads up to {RECORD_SCHEMA_VERSION}): upgrade edgekit to use it")
    checks = (("files", dict), ("model_file", str), ("task", str), ("source", dict), ("target", dict))
    for key, kind in checks:
        if not isinstance(data.get(key), kind):
            raise RecordError(f"'{where}' is not a readable edgekit record: {key!r} is missing or not a "
                              f"{kind.__name__}")
    for key in ("name", "runtime", "precision"):
        if not isinstance(data["target"].get(key), str):
            raise RecordError(f"'{where}' is not a readable edgekit record: target {key!r} is missing")
    if data.get("status", "built") not in STATUSES:
        raise RecordError(f"'{where}' has status {data.get('status')!r}; valid: {', '.join(STATUSES)}")
    return data


def read_record(directory: Path | str) -> Record:
    """The record of an artefact directory, checked for a schema this edgekit reads and the fields it needs."""
    path = Path(directory) / RECORD_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecordError(f"'{directory}' is not an edgekit artefact: it has no {RECORD_NAME}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(f"'{path}' is not a readable edgekit record ({type(exc).__name__})") from None
    return Record(_check(data, path))


def write_record(directory: Path, fields: dict, *, status: str = "built") -> Record:
    """Write edgekit.json holding `fields`, what built it, and the hashes of every other file in the directory."""
    if status not in STATUSES:
        raise ValueError(status)
    data = {
        "schema_version": RECORD_SCHEMA_VERSION,
        "status": status,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **fields,
        "versions": build_versions(),
        "platform": {"machine": platform.machine(), "system": platform.system(), "python": sys.version.split()[0]},
        "files": {name: entry for name, entry in file_table(directory).items() if name != RECORD_NAME},
    }
    (directory / RECORD_NAME).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return Record(_check(data, directory / RECORD_NAME))
