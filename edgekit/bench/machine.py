"""What a benchmark ran on: CPU, the instruction-set features that decide INT8/BF16 speed, versions, commit.

Standard library only (OpenVINO is imported only to ask its default precision), so the light install and
machines without /proc/cpuinfo (macOS, Windows) can describe themselves too.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

from edgekit import __version__

# The features that change which kernels the runtimes pick for the MatMuls of a transformer.
X86_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16",
             "f16c", "fma")
ARM_FLAGS = ("asimd", "asimddp", "i8mm", "sve", "sve2", "bf16", "fphp", "asimdhp")
# macOS names the same ARM features in sysctl hw.optional.
_DARWIN_ARM_FLAGS = {"AdvSIMD": "asimd", "FEAT_DotProd": "asimddp", "FEAT_I8MM": "i8mm", "FEAT_BF16": "bf16",
                     "FEAT_FP16": "fphp"}
CPUINFO = Path("/proc/cpuinfo")


def isa_family(arch: str | None) -> str | None:
    """platform.machine() spelt as the targets spell ISAs: "x86-64", "arm64", or None for anything else."""
    arch = (arch or "").lower()
    if arch in ("x86_64", "amd64", "x64", "x86-64"):
        return "x86-64"
    if arch in ("aarch64", "arm64", "armv8l", "armv8b"):
        return "arm64"
    return None


def _cpuinfo_fields(text: str) -> dict[str, str]:
    """The first processor's fields (every core reports the same model and flags)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    return fields


def _darwin_arm_flags() -> set[str]:
    try:
        out = subprocess.run(["sysctl", "hw.optional"], check=False, capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    flags = set()
    for line in out.splitlines():
        key, _, value = line.partition(":")
        name = key.strip().rsplit(".", 1)[-1]
        if name in _DARWIN_ARM_FLAGS and value.strip() == "1":
            flags.add(_DARWIN_ARM_FLAGS[name])
    return flags


def cpu_model_and_flags() -> tuple[str, list[str]]:
    """The CPU's name and the sorted subset of X86_FLAGS / ARM_FLAGS it has."""
    fields: dict[str, str] = {}
    try:
        fields = _cpuinfo_fields(CPUINFO.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        pass
    present = set((fields.get("flags") or fields.get("features") or "").split())
    if not present and sys.platform == "darwin":
        present = _darwin_arm_flags()
    wanted = X86_FLAGS if isa_family(platform.machine()) == "x86-64" else ARM_FLAGS
    name = (fields.get("model name") or fields.get("hardware") or fields.get("model")
            or platform.processor() or platform.machine() or "unknown")
    return name, sorted(flag for flag in wanted if flag in present)


def summarise_isa(flags: list[str] | set[str]) -> dict[str, bool]:
    """Booleans for the features that decide INT8 and BF16 speed, from a list of cpuinfo flag names."""
    have = set(flags)
    return {
        "vnni": bool(have & {"avx512_vnni", "avx_vnni"}),
        "bf16": bool(have & {"avx512_bf16", "amx_bf16", "bf16"}),
        "amx": bool(have & {"amx_tile", "amx_int8", "amx_bf16"}),
        "avx512": "avx512f" in have,
        "dotprod": "asimddp" in have,
        "i8mm": "i8mm" in have,
        "sve": bool(have & {"sve", "sve2"}),
    }


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
    from edgekit.record import package_versions

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
    try:
        import openvino
    except ImportError:
        return None
    try:
        hint = openvino.Core().get_property("CPU", "INFERENCE_PRECISION_HINT")
    except RuntimeError:  # no CPU plugin in this build
        return None
    return (hint.to_string() if hasattr(hint, "to_string") else str(hint)).lower()
