"""This CPU's name and the instruction-set features that decide INT8 and BF16 speed.

Standard library only: the build side reads it to choose quantisation settings, the bench to describe the
machine, and a device to know which artefact suits it. Machines without /proc/cpuinfo (macOS) use sysctl.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

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


def cpu_model_and_flags(cpuinfo: Path = CPUINFO) -> tuple[str, list[str]]:
    """The CPU's name and the sorted subset of X86_FLAGS / ARM_FLAGS it has (empty when unreadable)."""
    fields: dict[str, str] = {}
    try:
        fields = _cpuinfo_fields(cpuinfo.read_text(encoding="utf-8", errors="replace"))
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


def has_vnni(cpuinfo: Path = CPUINFO) -> bool | None:
    """Whether this x86 CPU has VNNI (avx512_vnni or avx_vnni); None when it cannot be told (not Linux x86)."""
    try:
        fields = _cpuinfo_fields(cpuinfo.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
    if "flags" not in fields:  # x86 only; ARM lists "Features" and has no U8S8 saturation
        return None
    return summarise_isa(fields["flags"].split())["vnni"]
