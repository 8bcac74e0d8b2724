"""Running a saved torch.export program (.pt2), the pytorch-int8 artefact: it needs torch, unlike every other
artefact, so the light install refuses it with that reason instead of failing on an import.

The program carries its interface (input and output names) in an extra file of the .pt2 archive. By default it
runs compiled by TorchInductor with freezing, which is what turns the program's quantize/dequantize pairs
into INT8 oneDNN kernels; the compile happens on the first call (and again per new input shape), so that
first call is slow: bench reports it as first_run_s, apart from the steady latency.
"""

from __future__ import annotations

import contextlib
import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.errors import ArtefactIntegrityError, InputError, MissingDependencyError

INTERFACE_FILE = "edgekit-interface.json"  # {"inputs": [...], "outputs": [...]} inside the .pt2 archive


def require_torch(purpose: str) -> Any:
    try:
        import torch
    except ImportError:
        raise MissingDependencyError("torch", purpose, "export") from None
    return torch


def load_program(path: Path | str) -> tuple[Any, dict]:
    """(the ExportedProgram, its interface) from a .pt2 file edgekit wrote."""
    torch = require_torch(f"running the PyTorch program {Path(path).name} (target pytorch-int8)")
    importlib.import_module("torch.ao.quantization.fx._decomposed")  # registers the quantized_decomposed ops

    extra = {INTERFACE_FILE: ""}
    program = torch.export.load(str(path), extra_files=extra)
    try:
        interface = json.loads(extra[INTERFACE_FILE])
        inputs, outputs = list(interface["inputs"]), list(interface["outputs"])
    except (ValueError, KeyError, TypeError):
        raise ArtefactIntegrityError(f"{path} is not a program edgekit wrote: no input/output names ({INTERFACE_FILE})") \
            from None
    return program, {"inputs": inputs, "outputs": outputs}


def torch_program_runner(path: Path | str, *, threads: int | None = None,
                         compiled: bool = True) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """feeds -> outputs of a .pt2 program. threads sets torch's intra-op threads (a process-wide setting).
    compiled=False runs the program as saved (reference quantize/dequantize ops in float: slow, for checks)."""
    program, interface = load_program(path)
    import torch

    if threads:
        torch.set_num_threads(threads)
    module = program.module()
    if compiled:
        module = torch.compile(module, dynamic=True)  # one compile for every batch and length
    names = interface["inputs"]
    # Freezing is what lets Inductor fold the dequantised int8 weights into oneDNN INT8 kernels; a process-wide
    # setting, so it is patched around each call (compiles happen inside a call). torch.compile's own
    # options={"freezing": True} fails here on onednn.qlinear_prepack (torch 2.13), and freezing needs no_grad
    # rather than inference_mode.
    freezing = torch._inductor.config.patch(freezing=True) if compiled else contextlib.nullcontext()

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = [n for n in names if n not in feeds]
        if missing:
            raise InputError(f"the program needs inputs {missing}; got {sorted(feeds)}")
        with freezing, torch.no_grad():
            result = module(*(torch.from_numpy(np.ascontiguousarray(feeds[n], dtype=np.int64)) for n in names))
        return {name: value.float().numpy() for name, value in zip(interface["outputs"], result)}

    return run
