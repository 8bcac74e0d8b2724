"""NNCF on the build side: its import with a clear error, and its console output kept out of edgekit's."""

from __future__ import annotations

import contextlib
import io
import logging
import sys
from collections.abc import Iterator
from typing import Any

from edgekit.errors import MissingDependencyError


def require_nncf() -> Any:
    try:
        import nncf
    except ImportError:
        raise MissingDependencyError("nncf", "INT8 quantisation for OpenVINO", "export") from None
    return nncf


@contextlib.contextmanager
def nncf_output(*, show_progress: bool, verbose: bool = False) -> Iterator[Any]:
    """NNCF draws its progress bars on stdout and logs every ignored quantizer at INFO. The bars go to
    stderr (or nowhere without show_progress); the INFO lines only with verbose. Yields the nncf module."""
    nncf = require_nncf()
    previous = logging.getLogger("nncf").level
    if not verbose:
        nncf.set_log_level(logging.WARNING)
    try:
        with contextlib.redirect_stdout(sys.stderr if show_progress else io.StringIO()):
            yield nncf
    finally:
        nncf.set_log_level(previous)
