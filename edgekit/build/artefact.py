"""Opening a built artefact directory: its record, and a check that every file is there and unchanged."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from edgekit.build.record import RECORD_NAME, Record, read_record
from edgekit.errors import ArtefactIntegrityError
from edgekit.runtime.hashing import sha256_file


@dataclass(frozen=True)
class Artefact:
    directory: Path
    record: Record

    @property
    def name(self) -> str:
        return self.record.target_name

    @property
    def model_path(self) -> Path:
        return self.directory / self.record.model_file

    @property
    def size_bytes(self) -> int:
        return self.record.size_bytes

    @property
    def precision(self) -> str:
        return self.record.precision

    @property
    def runtime(self) -> str:
        return self.record.runtime

    @property
    def inference_precision(self) -> str | None:
        """The OpenVINO precision the record validated with (None for ONNX Runtime)."""
        return self.record.inference_precision

    def config(self) -> dict:
        """The model's config.json (architecture sizes), saved beside the model at export."""
        path = self.directory / "config.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def open_artefact(directory: Path | str, *, verify: bool = True) -> Artefact:
    """Read edgekit.json and, unless verify is False, check every listed file's size and sha256."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ArtefactIntegrityError(f"artefact directory '{directory}' does not exist")
    record = read_record(directory)
    if verify:
        missing = [name for name in record.files if not (directory / name).is_file()]
        if missing:
            raise ArtefactIntegrityError(f"artefact '{directory}' is missing {len(missing)} file(s) its record lists: "
                                         + ", ".join(missing[:5]))
        for name, entry in record.files.items():
            path = directory / name
            if path.stat().st_size != entry["bytes"] or sha256_file(path) != entry["sha256"]:
                raise ArtefactIntegrityError(f"artefact file '{path}' does not match the sha256 in its "
                                             f"{RECORD_NAME}; it was changed or damaged after export")
    return Artefact(directory, record)
