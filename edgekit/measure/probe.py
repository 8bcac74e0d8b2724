"""This machine's FP32 and INT8 matrix-multiply peaks, measured through ONNX Runtime.

A transformer encoder spends most of its time in MatMuls of about this shape (a 128-token sequence times
a 768 x 3072 feed-forward weight), so the rate ONNX Runtime reaches on one, alone, is the practical
ceiling for a model: the bench reports each model's achieved FLOP/s as a fraction of it. FP32 runs a
MatMul; INT8 a MatMulInteger of uint8 activations (with a zero point) by int8 weights, the kernel that
dynamically quantised models use. The two graphs are tiny committed files (tools/build_probes.py).
"""

from __future__ import annotations

import statistics
import time
from importlib import resources

import numpy as np

from edgekit.errors import InputError
from edgekit.runtime.sessions import ort_session

SHAPE = (128, 768, 3072)  # M (tokens), K (hidden), N (feed-forward)
PROBE_FILES = {"fp32": "matmul_fp32.onnx", "int8": "matmul_int8.onnx"}
GROUPS = 5  # medians taken; the best one is the peak
WARMUP_CALLS = 3
_CACHE: dict[int, dict] = {}


def probe_feeds(kind: str, shape: tuple[int, int, int] = SHAPE, seed: int = 0) -> dict[str, np.ndarray]:
    """Random operands for the probe graph of `kind` ("fp32" or "int8")."""
    m, k, n = shape
    rng = np.random.default_rng(seed)
    if kind == "fp32":
        return {"A": rng.uniform(-1, 1, (m, k)).astype(np.float32),
                "B": rng.uniform(-1, 1, (k, n)).astype(np.float32)}
    return {"A": rng.integers(0, 256, (m, k), dtype=np.uint8), "B": rng.integers(-128, 128, (k, n), dtype=np.int8),
            "a_zero_point": np.array(128, dtype=np.uint8)}


def probe_session(kind: str, *, threads: int):
    """An ONNX Runtime session for the probe graph of `kind`, spinning on, `threads` intra-op threads."""
    model = resources.files("edgekit.data").joinpath("probes", PROBE_FILES[kind]).read_bytes()
    # Spinning on, as edgekit bench runs ONNX Runtime: a peak measured without it sits below what models reach.
    # The caller leaves a settle pause before anything else is timed.
    return ort_session(model, threads=threads, spinning=True)


def _best_rate(session, feeds: dict[str, np.ndarray], ops: float, seconds: float) -> tuple[float, int]:
    """Ops per second: the best of GROUPS medians over about `seconds` of calls; and the calls timed."""
    started = time.perf_counter()
    for _ in range(WARMUP_CALLS):
        session.run(None, feeds)
    per_call = (time.perf_counter() - started) / WARMUP_CALLS
    calls = max(3, int(seconds / GROUPS / max(per_call, 1e-6)))
    medians = []
    for _ in range(GROUPS):
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            session.run(None, feeds)
            times.append(time.perf_counter() - start)
        medians.append(statistics.median(times))
    return ops / min(medians), calls * GROUPS


def measure_peaks(*, threads: int, seconds: float = 1.0, refresh: bool = False) -> dict:
    """FP32 GFLOP/s and INT8 GOP/s of a 128x768 @ 768x3072 matrix multiply with `threads` threads, each
    timed for about `seconds` after warm-up. Peak, not typical: the fastest of several medians. Cached per
    thread count for the life of the process; refresh probes again."""
    if threads < 1:
        raise InputError(f"threads must be a positive number, got {threads}")
    if seconds <= 0:
        raise InputError(f"seconds must be positive, got {seconds}")
    if refresh or threads not in _CACHE:
        import onnxruntime as ort

        m, k, n = SHAPE
        ops = 2.0 * m * k * n  # one multiply and one add per term
        rates, timed = {}, {}
        for kind in PROBE_FILES:
            session = probe_session(kind, threads=threads)
            rates[kind], timed[kind] = _best_rate(session, probe_feeds(kind), ops, seconds)
        _CACHE[threads] = {
            "fp32_gflops": rates["fp32"] / 1e9, "int8_gops": rates["int8"] / 1e9, "shape": list(SHAPE),
            "threads": threads,
            "method": (f"onnxruntime {ort.__version__} CPU: MatMul fp32 and MatMulInteger uint8 x int8 "
                       f"({m}x{k} @ {k}x{n}, operands as inputs, spinning on); best of {GROUPS} medians "
                       f"of {timed['fp32'] // GROUPS} (fp32) and {timed['int8'] // GROUPS} (int8) calls"),
        }
    return dict(_CACHE[threads])
