"""Typed errors. The CLI turns any EdgekitError into one line on stderr and exit code 2."""

from __future__ import annotations


class EdgekitError(Exception):
    """Base of every error edgekit raises on purpose."""


class InvalidChoiceError(EdgekitError, ValueError):
    """A value is not one of the allowed choices."""

    def __init__(self, what: str, value: object, valid: list[str] | tuple[str, ...]) -> None:
        self.what = what
        self.value = value
        self.valid = tuple(valid)
        super().__init__(f"unknown {what} {value!r}; valid: {', '.join(self.valid)}")


class ModelSourceError(EdgekitError):
    """The --model value cannot be turned into a loadable checkpoint."""


class UnsupportedArchitectureError(EdgekitError):
    """The checkpoint's architecture is not one edgekit can export."""


class CorruptCheckpointError(EdgekitError):
    """A checkpoint file exists but cannot be read (truncated or damaged)."""


class MissingHeadError(EdgekitError):
    """The checkpoint has no trained head for the requested task (exporting it would give random outputs)."""


class OutputDirError(EdgekitError):
    """The output directory cannot be used (not empty, not writable)."""


class ValidationError(EdgekitError):
    """A built artefact does not agree with the FP32 reference within tolerance."""


class ExportError(EdgekitError):
    """The model could not be exported to ONNX as asked."""


class PassError(EdgekitError):
    """An optimisation pass did not do what it promised (e.g. incomplete fusion)."""


class RecipeError(EdgekitError):
    """A recipe file is malformed or has unknown keys."""


class InputError(EdgekitError):
    """Bad user input that fits no narrower class (e.g. a sequence length beyond the model's positions)."""


class MissingDependencyError(EdgekitError):
    """An optional package is needed for this operation but not installed."""

    def __init__(self, package: str, purpose: str, extra: str | None = None) -> None:
        hint = f'pip install "edgekit[{extra}]"' if extra else f"pip install {package}"
        super().__init__(f"{purpose} needs the package {package!r}, which is not installed; run: {hint}")


class ReportError(EdgekitError):
    """A file is not an edgekit report, has a schema version this edgekit cannot read, or reports cannot be
    compared."""


class ArtefactIntegrityError(EdgekitError):
    """An artefact's files are missing or do not match the sha256 in its edgekit.json."""


class RecordError(ArtefactIntegrityError):
    """An edgekit.json is missing, unreadable, incomplete, or written by a newer edgekit."""


class BenchError(EdgekitError):
    """A benchmark measurement failed (e.g. the fresh process that loads an artefact crashed or timed out)."""


class BundleError(EdgekitError):
    """A bundle is missing files, fails its checksums, has an unknown manifest version, or is unsafe."""
