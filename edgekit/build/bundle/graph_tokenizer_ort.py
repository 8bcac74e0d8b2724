"""ONNX Runtime in-graph tokenizer: onnxruntime-extensions' tokenizer ops plus standard ONNX ops for
batching, truncation and padding, in one small ONNX graph the runtime runs before the model.

RoBERTa byte-level BPE: the RobertaTokenizer op tokenises a batch and right-pads it with <pad>. Its own
cut (padding_length) neither keeps the end token nor pads only to the longest text, so the graph tokenises
in full and cuts to max_length here, ending a cut text with the end token as Hugging Face does.
BERT WordPiece: the BertTokenizer op takes one text at a time, so an ONNX Loop runs it per text and the
graph pads the concatenated ids into a [batch, longest] matrix: still one model call per batch.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import numpy as np

from edgekit.build.bundle.graph_tokenizer import TOKEN_INPUTS
from edgekit.errors import BundleError, MissingDependencyError
from edgekit.runtime.sessions import ort_session
from edgekit.runtime.text_model import MASK_OUTPUT, TEXT_INPUT

PACKAGE = "onnxruntime-extensions"
FILE = "tokenizer.onnx"
MIN_OPSET = 13  # Unsqueeze, Slice and ReduceSum take their axes as inputs from here on
_P = "graph_tokenizer/"  # prefix of every name the tokenizer adds to the model's graph


def require_build_packages() -> str:
    purpose = "compiling the tokenizer into the ONNX Runtime graph"
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise MissingDependencyError("onnx", purpose, "export") from None
    try:
        import onnxruntime_extensions  # noqa: F401
    except ImportError:
        raise MissingDependencyError(PACKAGE, purpose, "export") from None
    return metadata.version(PACKAGE)


def compile_tokenizer(*, hf, artefact_dir: Path, model_path: Path, max_length: int):
    """(the tokenizer as an onnx.ModelProto, a function texts -> {input_ids, attention_mask, token_type_ids})."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(model_path), load_external_data=False)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < MIN_OPSET:
        raise BundleError(f"the model uses ONNX opset {opset}; the in-graph tokenizer needs {MIN_OPSET} or later")
    kind = type(hf).__name__.removesuffix("Fast")
    if kind == "RobertaTokenizer":
        nodes, constants = _bpe_nodes(artefact_dir)
    elif kind in ("BertTokenizer", "DistilBertTokenizer"):
        nodes, constants = _wordpiece_nodes(hf, max_length)
    else:
        raise BundleError(f"{PACKAGE} builds in-graph tokenizers for RoBERTa byte-level BPE and BERT WordPiece; "
                          f"this artefact's tokenizer is {type(hf).__name__}")
    end_id = int(hf("a")["input_ids"][-1])  # the special token a text ends with ("</s>", "[SEP]")
    post_nodes, post_constants = _cut_and_pad_nodes(max_length, end_id, int(hf.pad_token_id))
    graph = helper.make_graph(
        nodes + post_nodes, "graph_tokenizer",
        [helper.make_tensor_value_info(TEXT_INPUT, TensorProto.STRING, ["batch"])],
        [helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"]) for name in TOKEN_INPUTS],
        initializer=[_int64(name, value) for name, value in {**constants, **post_constants}.items()])
    tokenizer = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), _contrib_opset()],
                                  ir_version=model.ir_version)
    session = ort_session(tokenizer.SerializeToString(), custom_ops_library=_library_path())

    def tokenize(texts: list[str]) -> dict[str, np.ndarray]:
        return dict(zip(TOKEN_INPUTS, session.run(list(TOKEN_INPUTS), {TEXT_INPUT: np.array(texts, dtype=object)})))

    return tokenizer, tokenize


def _contrib_opset():
    from onnx import helper
    from onnxruntime_extensions import default_opset_domain

    return helper.make_opsetid(default_opset_domain(), 1)


def _int64(name: str, value) -> object:
    from onnx import numpy_helper

    return numpy_helper.from_array(np.array(value, dtype=np.int64), _P + name)


def _extension_node(processor, inputs: list[str], outputs: list[str], name: str, **attributes):
    """The tokenizer op onnxruntime-extensions generates for a Hugging Face tokenizer, rewired to our names
    (optional trailing outputs such as offset_mapping are left off, so they are not computed)."""
    from onnx import helper
    from onnxruntime_extensions import gen_processing_models

    generated = gen_processing_models(processor, pre_kwargs={})[0].graph.node[0]
    attributes = {k: v for k, v in attributes.items() if v is not None}
    node = helper.make_node(generated.op_type, inputs, outputs, name=name, domain=generated.domain, **attributes)
    node.attribute.extend(a for a in generated.attribute if a.name not in attributes)
    return node


def _bpe_nodes(artefact_dir: Path) -> tuple[list, dict]:
    from transformers import RobertaTokenizer

    if not (artefact_dir / "vocab.json").is_file() or not (artefact_dir / "merges.txt").is_file():
        raise BundleError(f"'{artefact_dir}' has no vocab.json and merges.txt, which {PACKAGE} converts")
    slow = RobertaTokenizer.from_pretrained(str(artefact_dir))  # the converter reads the slow tokenizer's tables
    return [_extension_node(slow, [TEXT_INPUT], [_P + "raw_ids", _P + "raw_mask"], _P + "bpe")], {}


def _wordpiece_nodes(hf, max_length: int) -> tuple[list, dict]:
    import json

    from onnx import TensorProto, helper

    spec = json.loads(hf.backend_tokenizer.to_str())
    normalizer, model = spec.get("normalizer") or {}, spec["model"]
    lowercase = bool(normalizer.get("lowercase", True))
    strip_accents = normalizer.get("strip_accents")
    # Hugging Face strips accents whenever it lowercases unless told otherwise; the op needs it spelt out.
    tokenizer = _extension_node(
        hf, [_P + "one_text"], [_P + "one_ids", _P + "one_types", _P + "one_mask"], _P + "wordpiece",
        do_lower_case=int(lowercase), strip_accents=int(lowercase if strip_accents is None else strip_accents),
        tokenize_chinese_chars=int(normalizer.get("handle_chinese_chars", True)),
        suffix_indicator=model.get("continuing_subword_prefix", "##"), unk_token=hf.unk_token,
        sep_token=hf.sep_token, pad_token=hf.pad_token, cls_token=hf.cls_token, mask_token=hf.mask_token,
        max_length=max_length)
    body = helper.make_graph(
        [helper.make_node("Constant", [], [_P + "zero"], value=helper.make_tensor("zero", TensorProto.INT64, [1], [0])),
         helper.make_node("Constant", [], [_P + "one"], value=helper.make_tensor("one", TensorProto.INT64, [1], [1])),
         helper.make_node("Unsqueeze", [_P + "i", _P + "zero"], [_P + "start"]),
         helper.make_node("Add", [_P + "start", _P + "one"], [_P + "stop"]),
         helper.make_node("Slice", [TEXT_INPUT, _P + "start", _P + "stop"], [_P + "one_text"]),
         tokenizer,
         helper.make_node("Concat", [_P + "ids_in", _P + "one_ids"], [_P + "ids_out"], axis=0),
         helper.make_node("Shape", [_P + "one_ids"], [_P + "one_length"]),
         helper.make_node("Concat", [_P + "lengths_in", _P + "one_length"], [_P + "lengths_out"], axis=0),
         helper.make_node("Identity", [_P + "cond_in"], [_P + "cond_out"])],
        "graph_tokenizer_per_text",
        [helper.make_tensor_value_info(_P + "i", TensorProto.INT64, []),
         helper.make_tensor_value_info(_P + "cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info(_P + "ids_in", TensorProto.INT64, [None]),
         helper.make_tensor_value_info(_P + "lengths_in", TensorProto.INT64, [None])],
        [helper.make_tensor_value_info(_P + "cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info(_P + "ids_out", TensorProto.INT64, [None]),
         helper.make_tensor_value_info(_P + "lengths_out", TensorProto.INT64, [None])])
    nodes = [
        helper.make_node("Shape", [TEXT_INPUT], [_P + "text_shape"]),
        helper.make_node("Gather", [_P + "text_shape", _P + "zero_scalar"], [_P + "count"], axis=0),
        helper.make_node("Loop", [_P + "count", "", _P + "empty", _P + "empty"], [_P + "flat_ids", _P + "lengths"],
                         body=body),
        # Row r of the padded matrix is flat_ids[start_r : start_r + length_r], then pads.
        helper.make_node("ReduceMax", [_P + "lengths"], [_P + "longest"], keepdims=0),
        helper.make_node("CumSum", [_P + "lengths", _P + "zero_scalar"], [_P + "ends"]),
        helper.make_node("Sub", [_P + "ends", _P + "lengths"], [_P + "starts"]),
        helper.make_node("Range", [_P + "zero_scalar", _P + "longest", _P + "one_scalar"], [_P + "columns"]),
        helper.make_node("Unsqueeze", [_P + "starts", _P + "one_axis"], [_P + "row_starts"]),
        helper.make_node("Unsqueeze", [_P + "lengths", _P + "one_axis"], [_P + "row_lengths"]),
        helper.make_node("Add", [_P + "row_starts", _P + "columns"], [_P + "index"]),
        helper.make_node("Less", [_P + "columns", _P + "row_lengths"], [_P + "is_token"]),
        helper.make_node("Where", [_P + "is_token", _P + "index", _P + "zero_scalar"], [_P + "safe_index"]),
        helper.make_node("Gather", [_P + "flat_ids", _P + "safe_index"], [_P + "raw_ids"], axis=0),
        helper.make_node("Cast", [_P + "is_token"], [_P + "raw_mask"], to=TensorProto.INT64),
    ]
    return nodes, {"empty": np.zeros(0), "zero_scalar": 0, "one_scalar": 1, "one_axis": [1]}


def _cut_and_pad_nodes(max_length: int, end_id: int, pad_id: int) -> tuple[list, dict]:
    """raw_ids/raw_mask [batch, longest] -> input_ids, attention_mask, token_type_ids cut at max_length.

    A text longer than max_length keeps its first max_length - 1 tokens and ends with the end token, which
    is what Hugging Face truncation of a single text gives. Pads get the pad id whatever the op wrote.
    """
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Slice", [_P + "raw_ids", _P + "cut_start", _P + "cut_stop", _P + "cut_axis"], [_P + "cut_ids"]),
        helper.make_node("Slice", [_P + "raw_mask", _P + "cut_start", _P + "cut_stop", _P + "cut_axis"], [MASK_OUTPUT]),
        helper.make_node("ReduceSum", [_P + "raw_mask", _P + "cut_axis"], [_P + "full_lengths"], keepdims=1),
        helper.make_node("Greater", [_P + "full_lengths", _P + "max_length"], [_P + "too_long"]),
        helper.make_node("Shape", [_P + "cut_ids"], [_P + "cut_shape"]),
        helper.make_node("Gather", [_P + "cut_shape", _P + "cut_axis_scalar"], [_P + "width"], axis=0),
        helper.make_node("Range", [_P + "zero_position", _P + "width", _P + "cut_axis_scalar"], [_P + "positions"]),
        helper.make_node("Equal", [_P + "positions", _P + "last_position"], [_P + "is_last"]),
        helper.make_node("And", [_P + "too_long", _P + "is_last"], [_P + "put_end"]),
        helper.make_node("Where", [_P + "put_end", _P + "end_id", _P + "cut_ids"], [_P + "ended_ids"]),
        helper.make_node("Cast", [MASK_OUTPUT], [_P + "is_real"], to=TensorProto.BOOL),
        helper.make_node("Where", [_P + "is_real", _P + "ended_ids", _P + "pad_id"], ["input_ids"]),
        helper.make_node("ConstantOfShape", [_P + "cut_shape"], ["token_type_ids"],
                         value=helper.make_tensor("zero", TensorProto.INT64, [1], [0])),
    ]
    constants = {"cut_start": [0], "cut_stop": [max_length], "cut_axis": [1], "cut_axis_scalar": 1,
                 "max_length": max_length, "zero_position": 0, "last_position": max_length - 1,
                 "end_id": end_id, "pad_id": pad_id}
    return nodes, constants


def save_tokenizer(graph, scratch: Path) -> list[str]:
    """Write the tokenizer graph into scratch; returns the files written."""
    import onnx

    onnx.save_model(graph, str(scratch / FILE))
    return [FILE]


def _library_path() -> str:
    from onnxruntime_extensions import get_library_path

    return get_library_path()
