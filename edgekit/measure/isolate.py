"""Load time, first-run time and peak memory of one artefact or bundle, measured in a fresh Python process.

In the bench process other models, runtimes and PyTorch are already resident, so neither memory nor load
time would be the artefact's own. The child imports only numpy, edgekit's light modules and the one runtime
it needs, then records its peak resident set (VmHWM; ru_maxrss off Linux) before and after opening the model
and running it; the difference is what the model costs an application (weights, arenas, kernels), the peak
what the whole app process needs.

Child: python -m edgekit.measure.isolate --artefact-dir DIR --batch B --seq-len N --threads T [--precision P]
       python -m edgekit.measure.isolate --bundle DIR --text TEXT --threads T
It prints one JSON line on stdout. "MB" here means MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from edgekit.errors import BenchError, EdgekitError, InputError

EXTRA_RUNS = 3  # after the first run, so peak memory includes steady-state buffers
TOKEN_RANGE = (5, 100)  # ordinary vocabulary ids: clear of the special tokens at the start of the vocabulary
SOURCE_ROOT = Path(__file__).resolve().parent.parent.parent


def peak_rss_mb() -> tuple[float | None, str]:
    """This process's peak resident set in MiB, and where it came from.

    Linux: VmHWM of /proc/self/status. Not ru_maxrss: Linux carries the parent's peak over into a child
    across fork and exec, so a child of a big process (pytest with torch) would start with its peak.
    """
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024, "VmHWM"  # kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:  # Windows
        return None, "unavailable"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (peak / 2**20 if sys.platform == "darwin" else peak / 1024), "ru_maxrss"  # bytes on macOS, else KiB


def isolated_feeds(*, batch: int, seq_len: int, vocab_size: int | None, seed: int = 0) -> dict:
    """input_ids from a fixed range of valid ids, a full attention mask and zero token types; the runner
    passes on only the inputs the model has."""
    import numpy as np

    high = min(TOKEN_RANGE[1], vocab_size or TOKEN_RANGE[1])
    low = min(TOKEN_RANGE[0], high - 1)
    ids = np.random.default_rng(seed).integers(low, high, size=(batch, seq_len), dtype=np.int64)
    return {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}


def _measure_here(*, artefact_dir: Path, batch: int, seq_len: int, threads: int, precision: str | None) -> dict:
    """The child's work; must run in a process that has loaded nothing else."""
    import importlib

    import numpy  # noqa: F401  (part of the baseline, as in any application)

    from edgekit.build.artefact import open_artefact
    from edgekit.runtime.sessions import open_runner

    artefact = open_artefact(artefact_dir, verify=False)
    importlib.import_module(artefact.runtime)  # the runtime's own import is baseline too
    feeds = isolated_feeds(batch=batch, seq_len=seq_len, vocab_size=artefact.config().get("vocab_size"))
    baseline, memory_source = peak_rss_mb()

    start = time.perf_counter()
    run = open_runner(artefact.model_path, threads=threads, precision=precision)
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    run(feeds)
    first_run_s = time.perf_counter() - start
    for _ in range(EXTRA_RUNS):
        run(feeds)
    peak, _ = peak_rss_mb()
    return {"runtime": artefact.runtime, "load_s": load_s, "first_run_s": first_run_s, "baseline_rss_mb": baseline,
            "peak_rss_mb": peak, "model_rss_mb": None if peak is None or baseline is None else peak - baseline,
            "memory_source": memory_source, "batch": batch, "seq_len": seq_len, "threads": threads,
            "precision": precision}


def _measure_bundle_here(*, bundle: Path, text: str, threads: int) -> dict:
    """Load a bundle with edgekit.runtime (checksums verified, as an app does) and answer one text."""
    import numpy  # noqa: F401  (part of the baseline, as in any application)
    import tokenizers  # noqa: F401

    from edgekit import runtime
    from edgekit.runtime.manifest import read_manifest

    __import__(read_manifest(bundle)["runtime"])  # the runtime's own import is baseline too
    baseline, memory_source = peak_rss_mb()
    start = time.perf_counter()
    model = runtime.load(bundle, threads=threads)
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    model([text])
    first_run_s = time.perf_counter() - start
    for _ in range(EXTRA_RUNS):
        model([text])
    peak, _ = peak_rss_mb()
    return {"runtime": model.manifest["runtime"], "load_s": load_s, "first_run_s": first_run_s,
            "baseline_rss_mb": baseline, "peak_rss_mb": peak,
            "model_rss_mb": None if peak is None or baseline is None else peak - baseline,
            "memory_source": memory_source, "threads": threads, "session": model.manifest.get("session")}


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def measure_isolated(*, artefact_dir: Path, batch: int, seq_len: int, threads: int, precision: str | None,
                     timeout_s: float = 300) -> dict:
    """Load the artefact and run it on (batch, seq_len) feeds in a fresh process; returns load_s, first_run_s,
    baseline_rss_mb, peak_rss_mb and model_rss_mb (peak - baseline). precision: OpenVINO inference precision
    to pin (None: device default)."""
    from edgekit.build.artefact import open_artefact

    for what, value in (("batch", batch), ("seq_len", seq_len), ("threads", threads)):
        if value < 1:
            raise InputError(f"{what} must be a positive number, got {value}")
    artefact_dir = Path(artefact_dir)
    open_artefact(artefact_dir, verify=False)  # a clear error for a wrong path, before starting a process
    arguments = ["--artefact-dir", str(artefact_dir.resolve()), "--batch", str(batch), "--seq-len", str(seq_len),
                 "--threads", str(threads), *(["--precision", precision] if precision else [])]
    return _child(arguments, f"artefact '{artefact_dir}'", timeout_s)


def measure_bundle_isolated(*, bundle: Path, text: str, threads: int, timeout_s: float = 300) -> dict:
    """Load a bundle with edgekit.runtime and answer one text in a fresh process: what an app on a device
    needs. Returns load_s, first_run_s, baseline_rss_mb, peak_rss_mb, model_rss_mb."""
    from edgekit.runtime.manifest import read_manifest

    if threads < 1:
        raise InputError(f"threads must be a positive number, got {threads}")
    read_manifest(Path(bundle))  # a clear error for a wrong path, before starting a process
    return _child(["--bundle", str(Path(bundle).resolve()), "--text", text, "--threads", str(threads)],
                  f"bundle '{bundle}'", timeout_s)


def _child(arguments: list[str], what: str, timeout_s: float) -> dict:
    command = [sys.executable, "-m", "edgekit.measure.isolate", *arguments]
    env = dict(os.environ)  # the child must import this same edgekit, installed or not
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SOURCE_ROOT), env.get("PYTHONPATH")]))
    try:
        result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        raise BenchError(f"loading {what} in a fresh process did not finish within {timeout_s:g} s") from None
    if result.returncode != 0:
        raise BenchError(f"loading {what} in a fresh process failed (exit {result.returncode}): "
                         f"{_last_line(result.stderr)}")
    for line in reversed(result.stdout.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                break
    raise BenchError(f"the fresh process measuring {what} printed no result; its last output "
                     f"was: {_last_line(result.stdout + result.stderr)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgekit.measure.isolate", description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--artefact-dir", type=Path)
    source.add_argument("--bundle", type=Path)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--text", default="")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--precision", default=None)
    args = parser.parse_args(argv)
    try:
        if args.bundle is not None:
            measured = _measure_bundle_here(bundle=args.bundle, text=args.text, threads=args.threads)
        else:
            measured = _measure_here(artefact_dir=args.artefact_dir, batch=args.batch, seq_len=args.seq_len,
                                     threads=args.threads, precision=args.precision)
    except EdgekitError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(measured), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
