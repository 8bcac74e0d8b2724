"""edgekit: validated, optimised DistilRoBERTa-family artefacts for edge devices."""

from __future__ import annotations

__version__ = "0.1.0"

from edgekit.errors import EdgekitError

__all__ = ["EdgekitError", "__version__"]
