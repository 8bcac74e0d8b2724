"""The tokenizer compiled into the runtime's graph: a small model of its own that maps raw strings to the
token ids the bundle's model takes, so a device needs no Python tokenizer.

Build side (export extra): the Hugging Face tokenizer saved in an artefact is converted with
openvino-tokenizers (OpenVINO) or onnxruntime-extensions (ONNX Runtime) into tokenizer.{xml,onnx}, beside the
model rather than merged into it, so no weight is stored twice: the runtime runs the tokenizer model, then
the model. It is checked before it is kept: token ids and masks must equal the Hugging Face tokenizer's on
every verification text, on long texts (truncation) and on probe texts beyond English (Unicode handling),
and the two models chained must give the model's outputs on Hugging Face input. Anything less raises
BundleError and nothing is written.

The runtime side (light install + the graph-tokenizer extra) is edgekit.runtime.text_model.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from edgekit.errors import BundleError, EdgekitError, InvalidChoiceError
from edgekit.runtime.text_model import MASK_OUTPUT, TEXT_INPUT, TextRunner, open_text_model

TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
VERIFY_BATCH = 32
MODEL_CHECK_TEXTS = 7  # plus one long text: one mixed-length batch through the chained models
LONG_TEXTS = 2  # texts longer than max_length, built from the verification texts, to check truncation
# Chained vs alone on the same tokens: the same model file with the same inputs, so fp32 agrees to rounding;
# int8 and bf16/f16 keep a looser bound in case a runtime picks other kernels for another session.
STRICT_ATOL, LOOSE_ATOL = 1e-4, 2e-2
# Text a user may send that an English corpus lacks: other scripts and their casing, accents and combining
# marks, odd whitespace, symbols, over-long words. Converters that only half-implement Unicode fail here.
# Texts that spell out special tokens ("<mask>") are left out on purpose: Hugging Face turns them into the
# special token, converters may not, and classification or embedding input should never contain them.
PROBE_TEXTS = (
    "A tiny café in Zürich — naïve résumé!", "ÉCOLE Ångström FAÇADE", "Tabs\tand\nnewlines  and   spaces",
    "中文字符 mixed with English", "emoji 😀 and symbols © ® ™ € £ ¥", "don't can't it's O'Neil's",
    "Ωmega ΣIGMA Ελλάδα", "Москва ПРИВЕТ", "ﬁ ligature and ½ fraction",
    "non\u00a0breaking\u200bzero width soft\u00adhyphen", "x" * 150, "   leading and trailing spaces   ",
    "Numbers 3.14159, 1,000,000 and dates 2024-01-31", "URL https://example.com/a?b=c&d=e and a.b@c.de",
    "Mixed CASE and camelCaseWords and snake_case_words", "Arabic مرحبا and Hebrew שלום",
    "Hindi नमस्ते and Thai สวัสดี", "control\x07char here", "İstanbul ŞEHİR ǅ ẞ",
)

def _backend(runtime: str):
    if runtime == "openvino":
        from edgekit.build.bundle import graph_tokenizer_ov as backend
    elif runtime == "onnxruntime":
        from edgekit.build.bundle import graph_tokenizer_ort as backend
    else:
        raise InvalidChoiceError("bundle runtime", runtime, ("onnxruntime", "openvino"))
    return backend


def build_graph_tokenizer(*, artefact_dir: Path, model_file: str, runtime: str, out_dir: Path, max_length: int,
                          verify_texts: list[str]) -> dict:
    """Write out_dir/tokenizer.{xml,onnx}: the tokenizer as a model the runtime runs before out_dir/model_file,
    verified first.

    Returns the manifest entry. Raises BundleError (nothing written) when the compiled tokenizer, or the two
    models chained, disagree with the Hugging Face tokenizer and the model; MissingDependencyError when the
    converter package is absent.
    """
    artefact_dir, out_dir = Path(artefact_dir), Path(out_dir)
    backend = _backend(runtime)
    package_version = backend.require_build_packages()
    if not verify_texts:
        raise BundleError("no verification texts were given; the in-graph tokenizer cannot be checked")
    with _failures_as_bundle_error("compiling the tokenizer"):
        hf = _hf_tokenizer(artefact_dir)
        graph, tokenize = backend.compile_tokenizer(hf=hf, artefact_dir=artefact_dir, model_path=out_dir / model_file,
                                                    max_length=max_length)
        long_texts = _long_texts(hf, verify_texts, max_length)
        checked = [*verify_texts, *long_texts, *PROBE_TEXTS]
        mismatches = _compare_tokens(tokenize, hf, checked, max_length)
    if mismatches:
        raise BundleError(f"in-graph tokenizer differs from the Hugging Face tokenizer on {len(mismatches)} of "
                          f"{len(checked)} texts (first: {mismatches[0]})")

    scratch = Path(tempfile.mkdtemp(prefix=".graph-tokenizer-", dir=out_dir))
    try:
        with _failures_as_bundle_error("chaining the tokenizer model with the model"):
            written = backend.save_tokenizer(graph, scratch)
            precision, atol = _check_settings(artefact_dir, runtime)
            run_text = open_text_model(scratch / written[0], out_dir / model_file, runtime=runtime, threads=None,
                                       precision=precision)
            check = _compare_outputs(run_text, out_dir / model_file, hf,
                                     verify_texts[:MODEL_CHECK_TEXTS] + long_texts[:1],
                                     max_length=max_length, precision=precision, atol=atol)
        for name in written:
            os.replace(scratch / name, out_dir / name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "file": written[0],
        "files": written,
        "runs_before": model_file,
        "package": backend.PACKAGE,
        "package_version": package_version,
        "input": {"name": TEXT_INPUT, "dtype": "string", "shape": [None]},
        "outputs": check["outputs"],
        "verified": {"texts": len(verify_texts), "mismatches": 0, "long_texts": len(long_texts),
                     "probe_texts": len(PROBE_TEXTS),
                     "model_check": {"texts": check["texts"], "max_abs_diff": check["max_abs_diff"]}},
        "truncates_at": max_length,
    }


@contextmanager
def _failures_as_bundle_error(step: str) -> Iterator[None]:
    """Converters and runtimes raise their own exception types for graphs they cannot handle; the bundle
    then ships without the in-graph tokenizer instead of failing as a whole."""
    try:
        yield
    except EdgekitError:
        raise
    except Exception as exc:
        message = " ".join(str(exc).split())
        raise BundleError(f"{step} failed: {type(exc).__name__}: {message[:300]}") from exc


# -- checks (build side) --------------------------------------------------------------------------------
def _hf_tokenizer(artefact_dir: Path):
    from edgekit.errors import MissingDependencyError

    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise MissingDependencyError("transformers", "compiling the tokenizer into the runtime's graph",
                                     "export") from None
    tokenizer = AutoTokenizer.from_pretrained(str(artefact_dir))
    if not tokenizer.is_fast:
        raise BundleError(f"the tokenizer in '{artefact_dir}' has no tokenizer.json (fast tokenizer), which the "
                          "in-graph tokenizer is checked against")
    return tokenizer


def reference_encode(hf, texts: list[str], max_length: int) -> dict[str, np.ndarray]:
    """What the Python path feeds the model: right-padded to the batch's longest text, cut at max_length."""
    encoded = hf(list(texts), truncation=True, max_length=max_length, padding="longest", return_tensors="np")
    return {k: np.asarray(v, dtype=np.int64) for k, v in encoded.items() if k in TOKEN_INPUTS}


def _long_texts(hf, texts: list[str], max_length: int) -> list[str]:
    """Texts of more than max_length tokens, from the verification texts, so truncation is checked too."""
    joined = " ".join(texts)
    if len(hf(joined, truncation=False, verbose=False)["input_ids"]) <= max_length:
        return []
    words = joined.split(" ")
    return [joined, " ".join(words[len(words) // 3:])][:LONG_TEXTS]


def _compare_tokens(tokenize: TextRunner, hf, texts: list[str], max_length: int) -> list[str]:
    """Descriptions of the texts whose ids or mask differ from the Hugging Face tokenizer's, batch by batch.
    Each row must hold the same tokens, then pads (pad id, mask 0); each batch must be as wide as its
    longest text, as in Hugging Face's padding."""
    mismatches = []
    for start in range(0, len(texts), VERIFY_BATCH):
        batch = texts[start:start + VERIFY_BATCH]
        want = reference_encode(hf, batch, max_length)
        got = tokenize(batch)
        for row, text in enumerate(batch):
            problem = _row_problem(got, want, row, hf.pad_token_id)
            if problem:
                mismatches.append(f"{_shorten(text)!r}: {problem}")
        if not mismatches and got["input_ids"].shape != want["input_ids"].shape:
            mismatches.append(f"a batch of {len(batch)} texts is padded to {got['input_ids'].shape[1]} tokens "
                              f"instead of {want['input_ids'].shape[1]}")
    return mismatches


def _row_problem(got: dict, want: dict, row: int, pad_id: int) -> str | None:
    ids, mask = got["input_ids"][row], got["attention_mask"][row]
    want_ids = want["input_ids"][row][want["attention_mask"][row] == 1]
    n = int(mask.sum())
    if not (mask[:n] == 1).all() or (mask[n:] != 0).any():
        return "the attention mask is not ones followed by zeros"
    if (ids[n:] != pad_id).any():
        return f"a pad position holds {int(ids[n:][ids[n:] != pad_id][0])} instead of the pad id {pad_id}"
    common = min(n, len(want_ids))
    differ = np.flatnonzero(ids[:common] != want_ids[:common])
    first = f"input_ids[{differ[0]}] is {ids[differ[0]]} instead of {want_ids[differ[0]]}" if len(differ) else None
    if n != len(want_ids):
        return f"{n} tokens instead of {len(want_ids)}" + (f"; {first}" if first else "")
    return first


def _shorten(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def _check_settings(artefact_dir: Path, runtime: str) -> tuple[str | None, float]:
    """OpenVINO precision for the output check (the one the artefact was validated with) and the tolerance."""
    from edgekit.build.artefact import open_artefact

    artefact = open_artefact(artefact_dir, verify=False)
    precision = artefact.inference_precision if runtime == "openvino" else None
    exact = artefact.precision == "fp32" and (runtime == "onnxruntime" or precision == "f32")
    return precision, STRICT_ATOL if exact else LOOSE_ATOL


def _compare_outputs(run_text: TextRunner, model_path: Path, hf, texts: list[str], *, max_length: int,
                     precision: str | None, atol: float) -> dict:
    """The tokenizer and model chained, on raw texts, against the model on Hugging Face tokens: same mask, same
    outputs."""
    from edgekit.runtime.sessions import open_runner

    feeds = reference_encode(hf, texts, max_length)
    want = open_runner(model_path, threads=None, precision=precision)(feeds)
    got = run_text(texts)
    if not np.array_equal(got.get(MASK_OUTPUT), feeds["attention_mask"]):
        raise BundleError("the tokenizer model's attention mask differs from the Hugging Face tokenizer's")
    worst = 0.0
    real = feeds["attention_mask"].astype(bool)
    for name, expected in want.items():
        actual = got.get(name)
        if actual is None or actual.shape != expected.shape:
            raise BundleError(f"the chained models' output {name!r} is missing or has shape "
                              f"{None if actual is None else list(actual.shape)} instead of {list(expected.shape)}")
        # Padded positions carry no meaning (the runtime ignores them), so only real tokens are compared.
        keep = real if expected.ndim == 3 else slice(None)
        diff = float(np.max(np.abs(actual[keep].astype(np.float64) - expected[keep].astype(np.float64))))
        scale = max(1.0, float(np.max(np.abs(expected[keep]))))
        if not diff <= atol * scale:
            raise BundleError(f"the chained models' {name!r} differs from the model's on the same tokens by "
                              f"{diff:.3g} (allowed {atol * scale:.3g})")
        worst = max(worst, diff)
    return {"outputs": [*want, MASK_OUTPUT], "texts": len(texts), "max_abs_diff": worst}
