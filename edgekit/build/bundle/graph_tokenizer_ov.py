"""OpenVINO in-graph tokenizer: openvino-tokenizers converts the Hugging Face tokenizer, and its outputs
replace the model's token inputs, giving one ov.Model from a string tensor to the model's outputs."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from edgekit.errors import BundleError
from edgekit.runtime.sessions import compile_openvino, openvino_runner
from edgekit.runtime.text_model import MASK_OUTPUT, TEXT_INPUT, require_extension

PACKAGE = "openvino-tokenizers"
FILE = "model_text.xml"


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


def merge_with_model(*, graph, model_path: Path, scratch: Path) -> list[str]:
    """Wire the tokenizer's outputs into the model's inputs and save the merged IR in scratch."""
    import openvino as ov
    import openvino.opset13 as ops

    require_extension("openvino", "compiling the tokenizer into the OpenVINO graph", "export")
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
