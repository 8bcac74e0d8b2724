"""What a benchmark ran on: CPU, the instruction-set features that decide INT8/BF16 speed, versions, commit.

Standard library only (OpenVINO is imported only to ask its default precision), so the light install and
machines without /proc/cpuinfo (macOS, Windows) can describe themselves too.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

from edgekit import __version__
from edgekit.runtime.cpu import cpu_model_and_flags, summarise_isa


def available_cores() -> int | None:
    """Cores this process may run on (its affinity mask), else all logical cores."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


def git_commit() -> str | None:
    """The short commit of the edgekit checkout this code runs from, "+dirty" if it has changes; None if the
    package is not the top of a git checkout (e.g. installed in site-packages) or git is missing."""
    source_root = Path(__file__).resolve().parent.parent.parent

    def git(*args: str) -> str | None:
        try:
            result = subprocess.run(["git", *args], cwd=source_root, check=False, capture_output=True, text=True,
                                    timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return result.stdout.strip() if result.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    # A venv inside some other repository would otherwise report that repository's commit.
    if not top or Path(top).resolve() != source_root:
        return None
    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return None
    status = git("status", "--porcelain")
    return commit + "+dirty" if status else commit


def machine_record(*, threads_used: list[int]) -> dict:
    """Everything about this machine and software that a benchmark number depends on."""
    from edgekit.build.record import package_versions

    cpu, isa = cpu_model_and_flags()
    return {
        "cpu": cpu,
        "arch": platform.machine(),
        "cores": {"logical": os.cpu_count(), "available": available_cores()},
        "threads_used": list(threads_used),
        "isa": isa,
        "isa_summary": summarise_isa(isa),
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": package_versions(),
        "edgekit": __version__,
        "git_commit": git_commit(),
    }


def openvino_default_precision() -> str | None:
    """OpenVINO CPU's inference precision when nobody pins it ("f32", "bf16", "f16"); None without openvino."""
    from edgekit.errors import MissingDependencyError
    from edgekit.runtime.sessions import openvino_default_precision as device_default

    try:
        return device_default("CPU").lower()
    except (MissingDependencyError, RuntimeError):  # no openvino, or no CPU plugin in this build
        return None
