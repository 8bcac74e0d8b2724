"""Running an ONNX artefact with ONNX Runtime and numpy only (the light install)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def ort_session(model_path: Path, *, threads: int | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    # Spinning threads would steal CPU from whatever runs next (another runtime, the reference model).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])


def run_onnx(session, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    names = [o.name for o in session.get_outputs()]
    wanted = {i.name for i in session.get_inputs()}
    arrays = session.run(names, {k: np.asarray(v, dtype=np.int64) for k, v in feeds.items() if k in wanted})
    return dict(zip(names, arrays))
