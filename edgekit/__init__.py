"""edgekit: validated, optimised DistilRoBERTa-family artefacts for edge devices.

    import edgekit
    edgekit.export(model="random:distilroberta-base", target="openvino-int8")

The library API (edgekit.api) is reachable from here: export, bench, claim, compare, report, package, verify.
It is imported on first use, so `from edgekit import runtime` on a device loads nothing of the build side.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

from edgekit.errors import EdgekitError  # noqa: E402

_API = ("export", "plan_export", "export_or_reuse", "bench", "claim", "compare", "report", "package", "verify",
        "targets", "Timing")

__all__ = ["EdgekitError", "__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module("edgekit.api"), name)
    raise AttributeError(f"module 'edgekit' has no attribute {name!r}")
