"""Warnings before timing: conditions under which an artefact's numbers on this machine would mislead.

Each warning is one sentence that says what is wrong with the measurement and what to do instead.
"""

from __future__ import annotations

from edgekit.build.artefact import Artefact
from edgekit.runtime.cpu import isa_family, summarise_isa

REDUCED_PRECISIONS = ("bf16", "f16")


def _isa_summary(machine: dict) -> dict[str, bool]:
    return machine.get("isa_summary") or summarise_isa(machine.get("isa") or [])


def _available_cores(machine: dict) -> int | None:
    cores = machine.get("cores")
    if isinstance(cores, dict):
        return cores.get("available") or cores.get("logical")
    return cores if isinstance(cores, int) else None


def _int8_warning(artefact: Artefact, family: str | None, isa: dict[str, bool]) -> str | None:
    if artefact.precision != "int8":
        return None
    if family == "x86-64" and not isa.get("vnni"):
        return ("INT8 on an x86-64 CPU without VNNI (AVX512-VNNI or AVX-VNNI): expect little or no speed-up "
                "over FP32, and U8S8 integer products may saturate; measure on a VNNI CPU (Intel Cascade Lake "
                "or AMD Zen 4 and newer) for representative INT8 numbers.")
    if family == "arm64" and not isa.get("dotprod"):
        return ("INT8 on an ARM CPU without the dot-product extension (asimddp; Cortex-A72, Raspberry Pi 4): int8 "
                "MatMuls fall back to widening multiplies and are reported slower than FP32 there (ArmNN #511, "
                "ComputeLibrary #855); openvino-arm64 (int8 weights, float compute) is the target for this core.")
    return None


def _openvino_precision_warning(artefact: Artefact, openvino_precision: str | None) -> str | None:
    if artefact.runtime != "openvino" or artefact.precision != "fp32":
        return None
    if openvino_precision not in REDUCED_PRECISIONS:
        return None
    pinned = artefact.inference_precision
    if pinned:
        return (f"This CPU's OpenVINO default inference precision is {openvino_precision}, not f32; the bench "
                f"pins {pinned} from the artefact's record, so an application that does not set "
                f"INFERENCE_PRECISION_HINT={pinned} will run in {openvino_precision} and see different numbers.")
    return (f"This FP32 OpenVINO artefact runs at this CPU's default inference precision {openvino_precision}, "
            f"not f32, so its speed and accuracy are those of {openvino_precision}; build the openvino-fp32 "
            "target (which pins f32) to measure full precision.")


def _isa_mismatch_warning(artefact: Artefact, family: str | None) -> str | None:
    built_for = artefact.record.isa
    if built_for not in ("x86-64", "arm64") or family is None or built_for == family:
        return None
    return (f"This artefact is built for {built_for} but is measured on {family}: its speed here is not "
            f"representative of {built_for} devices; run edgekit bench on the target device.")


def _threads_warning(threads: list[int], machine: dict) -> str | None:
    available = _available_cores(machine)
    too_many = [t for t in threads if available and t > available]
    if not too_many:
        return None
    return (f"Requested {max(too_many)} threads but only {available} cores are available to this process, so "
            f"threads time-share and latency rises; use --threads of at most {available}.")


def preflight_warnings(*, artefact: Artefact, machine: dict, threads: list[int],
                       openvino_precision: str | None) -> list[str]:
    """The warnings that apply to measuring `artefact` on `machine` (a machine_record) with these thread
    counts; openvino_precision is OpenVINO's default CPU inference precision here (None: no OpenVINO)."""
    family = isa_family(machine.get("arch"))
    isa = _isa_summary(machine)
    found = (_int8_warning(artefact, family, isa), _openvino_precision_warning(artefact, openvino_precision),
             _isa_mismatch_warning(artefact, family), _threads_warning(threads, machine))
    return [message for message in found if message]
