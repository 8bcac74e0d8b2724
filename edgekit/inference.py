"""Running artefacts with numpy and one runtime: ONNX Runtime (.onnx, .ort) or OpenVINO (.xml).

Light-install only: nothing here imports torch, transformers or onnx.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

Runner = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def ort_session(model_path: Path, *, threads: int | None = None, spinning: bool = False):
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    # Spinning threads steal CPU from whatever runs next (another runtime, the reference model), so it is
    # off unless the caller isolates runs in time (edgekit bench lets threads settle between calls).
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])


def run_onnx(session, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    names = [o.name for o in session.get_outputs()]
    wanted = {i.name for i in session.get_inputs()}
    arrays = session.run(names, {k: np.asarray(v, dtype=np.int64) for k, v in feeds.items() if k in wanted})
    return dict(zip(names, arrays))


def open_runner(model_path: Path, *, threads: int | None = None, precision: str | None = None,
                spinning: bool = False) -> Runner:
    """A callable feeds -> outputs for any artefact model file. precision applies to OpenVINO only
    (None: the device default, which is bf16 or f16 on capable CPUs); spinning to ONNX Runtime only."""
    model_path = Path(model_path)
    if model_path.suffix in (".onnx", ".ort"):
        session = ort_session(model_path, threads=threads, spinning=spinning)
        return lambda feeds: run_onnx(session, feeds)
    if model_path.suffix == ".xml":
        from edgekit.passes.openvino_convert import compile_ir

        compiled = compile_ir(model_path, threads=threads, precision=precision)
        inputs = {p.get_any_name() for p in compiled.inputs}
        names = [p.get_any_name() for p in compiled.outputs]
        request = compiled.create_infer_request()

        def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            result = request.infer({k: np.asarray(v, dtype=np.int64) for k, v in feeds.items() if k in inputs})
            return {name: np.array(result[compiled.output(name)]) for name in names}

        return run
    from edgekit.errors import InvalidChoiceError

    raise InvalidChoiceError("model file type", model_path.suffix, (".onnx", ".ort", ".xml"))
