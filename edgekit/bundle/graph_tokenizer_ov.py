"""OpenVINO in-graph tokenizer: openvino-tokenizers converts the Hugging Face tokenizer, and its outputs
replace the model's token inputs, giving one ov.Model from a string tensor to the model's outputs."""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np

from edgekit.bundle.graph_tokenizer import MASK_OUTPUT, TEXT_INPUT
from edgekit.errors import BundleError, MissingDependencyError

PACKAGE = "openvino-tokenizers"
FILE = "model_text.xml"


def _import_extension(purpose: str, extra: str | None):
    try:
        import openvino_tokenizers
    except ImportError:
        raise MissingDependencyError(PACKAGE, purpose, extra) from None
    if not openvino_tokenizers.is_openvino_tokenizers_compatible:
        import openvino

        raise BundleError(f"{PACKAGE} {metadata.version(PACKAGE)} is not binary compatible with openvino "
                          f"{openvino.get_version()}; install the {PACKAGE} release of the same major.minor version")
    return openvino_tokenizers


def require_build_packages() -> str:
    _import_extension("compiling the tokenizer into the OpenVINO graph", "export")
    return metadata.version(PACKAGE)


def require_runtime_package() -> None:
    _import_extension("the in-graph tokenizer of this bundle", None)


def compile_tokenizer(*, hf, artefact_dir: Path, model_path: Path, max_length: int):
    """(the tokenizer ov.Model, a function texts -> {input_ids, attention_mask[, token_type_ids]})."""
    import openvino as ov

    openvino_tokenizers = _import_extension("compiling the tokenizer into the OpenVINO graph", "export")
    converted = openvino_tokenizers.convert_tokenizer(hf, max_length=max_length, truncation=True)
    tokenizer = _stateless(converted)
    compiled = ov.Core().compile_model(tokenizer, "CPU")
    request = compiled.create_infer_request()
    names = [o.get_any_name() for o in compiled.outputs]

    def tokenize(texts: list[str]) -> dict[str, np.ndarray]:
        result = request.infer({TEXT_INPUT: np.array(texts, dtype=str)})
        return {name: np.array(result[compiled.output(name)]) for name in names}

    return tokenizer, tokenize


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


def merge_with_model(*, graph, model_path: Path, scratch: Path) -> list[str]:
    """Wire the tokenizer's outputs into the model's inputs and save the merged IR in scratch."""
    import openvino as ov
    import openvino.opset13 as ops

    _import_extension("compiling the tokenizer into the OpenVINO graph", "export")
    model = ov.Core().read_model(str(model_path))
    produced = {result.get_output_tensor(0).get_any_name(): result.input_value(0) for result in graph.get_results()}
    for parameter in model.get_parameters():
        name = parameter.output(0).get_any_name()
        if name in produced:
            source = produced[name]
        elif name == "token_type_ids":  # a single text is all segment 0
            source = ops.broadcast(ops.constant(0, ov.Type.i64), ops.shape_of(produced["input_ids"])).output(0)
        else:
            raise BundleError(f"the model input {name!r} is not one the tokenizer produces ({', '.join(produced)})")
        if source.get_element_type() != parameter.get_element_type():
            source = ops.convert(source, parameter.get_element_type()).output(0)
        for target in parameter.output(0).get_target_inputs():
            target.replace_source_output(source)
    mask = ops.result(produced[MASK_OUTPUT])
    mask.output(0).get_tensor().set_names({MASK_OUTPUT})
    merged = ov.Model([*model.get_results(), mask], graph.get_parameters(), "model_text")
    ov.save_model(merged, str(scratch / FILE), compress_to_fp16=False)  # weights stay as the model had them
    return [FILE, Path(FILE).with_suffix(".bin").name]


def open_text(path: Path, *, threads: int | None, precision: str | None) -> Callable[[list[str]], dict]:
    import openvino as ov

    _import_extension("the in-graph tokenizer of this bundle", None)  # registers the string ops with new Cores
    config: dict = {"PERFORMANCE_HINT": "LATENCY"}
    if threads is not None:
        config["INFERENCE_NUM_THREADS"] = threads
    if precision is not None:
        config["INFERENCE_PRECISION_HINT"] = precision
    compiled = ov.Core().compile_model(str(path), "CPU", config)
    request = compiled.create_infer_request()
    names = [o.get_any_name() for o in compiled.outputs]

    def run(texts: list[str]) -> dict[str, np.ndarray]:
        result = request.infer({TEXT_INPUT: np.array(texts, dtype=str)})
        return {name: np.array(result[compiled.output(name)]) for name in names}

    return run
