"""OpenVINO in-graph tokenizer: openvino-tokenizers converts the Hugging Face tokenizer into a small IR that maps
a string tensor to the token ids the model takes; the runtime runs it before the model."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from edgekit.runtime.sessions import compile_openvino, openvino_runner
from edgekit.runtime.text_model import TEXT_INPUT, require_extension

PACKAGE = "openvino-tokenizers"
FILE = "tokenizer.xml"


def require_build_packages() -> str:
    require_extension("openvino", "compiling the tokenizer into the OpenVINO graph", "export")
    return metadata.version(PACKAGE)


def compile_tokenizer(*, hf, artefact_dir: Path, model_path: Path, max_length: int):
    """(the tokenizer ov.Model, a function texts -> {input_ids, attention_mask[, token_type_ids]})."""
    import openvino as ov

    openvino_tokenizers = require_extension("openvino", "compiling the tokenizer into the OpenVINO graph", "export")
    converted = openvino_tokenizers.convert_tokenizer(hf, max_length=max_length, truncation=True)
    tokenizer = _stateless(converted)
    run = openvino_runner(compile_openvino(tokenizer, threads=None, core=ov.Core()), dtype=str)
    return tokenizer, lambda texts: run({TEXT_INPUT: texts})


def _stateless(tokenizer):
    """The converter keeps "truncate or not" in a state variable; pin its initial value (truncate) as a
    constant, so the shipped model is stateless and truncation cannot be switched off by a caller."""
    import openvino as ov

    for node in tokenizer.get_ordered_ops():
        if node.get_type_name() == "ReadValue":
            node.output(0).replace(node.input_value(0))
    parameter = tokenizer.get_parameters()[0]
    parameter.set_friendly_name(TEXT_INPUT)
    parameter.output(0).get_tensor().set_names({TEXT_INPUT})
    return ov.Model(tokenizer.get_results(), tokenizer.get_parameters(), "tokenizer")


def save_tokenizer(graph, scratch: Path) -> list[str]:
    """Write the tokenizer IR into scratch; returns the files written."""
    import openvino as ov

    ov.save_model(graph, str(scratch / FILE))
    return [FILE, Path(FILE).with_suffix(".bin").name]
