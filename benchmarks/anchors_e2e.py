"""End to end, as an app runs it: text in, label out, tokenisation included. Each path takes a list of texts and
returns one label per text; benchmarks/vs_anchors.py times them interleaved, one sentence per call and in batches
of 32.

- edgekit: the bundle of a built artefact through edgekit.runtime (the light install's path);
- Optimum: ORTModelForSequenceClassification on the Optimum-quantised model, in a transformers pipeline;
- OpenVINO: the NNCF-quantised IR with its tokenizer converted by openvino-tokenizers (both compiled models);
- transformers: pipeline("text-classification") in PyTorch FP32.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

TextPath = Callable[[list[str]], list[str]]


def edgekit_bundle(bundle: Path, *, threads: int, tokenizer: str = "python") -> TextPath:
    from edgekit import runtime

    model = runtime.load(bundle, threads=threads, tokenizer=tokenizer)
    return lambda texts: [row["label"] for row in model.predict(texts, batch_size=32)]


def optimum_pipeline(quantized: Path, checkpoint: Path, *, threads: int) -> TextPath:
    import onnxruntime as ort
    from optimum.onnxruntime import ORTModelForSequenceClassification
    from transformers import AutoTokenizer, pipeline

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    model = ORTModelForSequenceClassification.from_pretrained(quantized.parent, file_name=quantized.name,
                                                              session_options=options)
    classify = pipeline("text-classification", model=model, tokenizer=AutoTokenizer.from_pretrained(checkpoint))
    return lambda texts: [row["label"] for row in classify(texts, batch_size=32)]


def openvino_with_tokenizer(ir: Path, checkpoint: Path, *, threads: int) -> TextPath:
    import openvino as ov
    from openvino_tokenizers import convert_tokenizer
    from transformers import AutoConfig, AutoTokenizer

    core = ov.Core()  # openvino_tokenizers registered its string ops with every new Core
    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
    tokenize = core.compile_model(convert_tokenizer(AutoTokenizer.from_pretrained(checkpoint)), "CPU", config)
    model = core.compile_model(ir, "CPU", config)
    wanted = {p.get_any_name() for p in model.inputs}
    labels = AutoConfig.from_pretrained(checkpoint).id2label

    def run(texts: list[str]) -> list[str]:
        out = []
        for start in range(0, len(texts), 32):
            tokens = tokenize(texts[start:start + 32])
            feeds = {name: tokens[name] for name in wanted}
            logits = model(feeds)[0]
            out += [labels[int(i)] for i in np.argmax(logits, axis=-1)]
        return out

    return run


def transformers_pipeline(checkpoint: Path, *, threads: int) -> TextPath:
    import torch
    from transformers import pipeline

    torch.set_num_threads(threads)
    classify = pipeline("text-classification", model=str(checkpoint), device="cpu")
    return lambda texts: [row["label"] for row in classify(texts, batch_size=32)]


def one_at_a_time(path: TextPath) -> TextPath:
    """An app answering each sentence as it arrives: one call per text."""
    return lambda texts: [label for text in texts for label in path([text])]


def label_index(label: str) -> str:
    """The class a label names: transformers calls an unnamed class LABEL_1, edgekit calls it 1."""
    return label.removeprefix("LABEL_")
