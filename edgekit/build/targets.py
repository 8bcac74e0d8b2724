"""The target registry: one frozen description per artefact edgekit can build.

Each target carries the reason for its runtime, precision and ISA choice. The CLI's --target choices
and `edgekit targets` come from here. Standard library only (the light install lists targets too).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgekit.errors import InvalidChoiceError


@dataclass(frozen=True)
class Target:
    name: str
    runtime: str  # "onnxruntime", "openvino" or "torch": the package needed to run the artefact
    precision: str
    isa: str  # "any", "x86-64" or "arm64"
    passes: tuple[str, ...]  # the default recipe, in order
    model_file: str  # the main file inside the artefact directory
    description: str
    reason: str
    settings: dict[str, dict] = field(default_factory=dict)  # recipe defaults, e.g. {"quantize": {...}}
    inference_precision: str | None = None  # OpenVINO INFERENCE_PRECISION_HINT to pin at run time; None: default
    cores: str = ""  # which CPU cores it suits, and what to pick where it does not

    @property
    def gate(self) -> str:
        """FP32 artefacts must match PyTorch within atol; reduced precision ones stay within --max-drop."""
        return "atol" if self.precision == "fp32" else "max-drop"


_TARGETS: dict[str, Target] = {}


def register(target: Target) -> Target:
    if target.name in _TARGETS:
        raise ValueError(f"duplicate target name {target.name!r}")
    _TARGETS[target.name] = target
    return target


def target_names() -> tuple[str, ...]:
    return tuple(_TARGETS)


def all_targets() -> tuple[Target, ...]:
    return tuple(_TARGETS.values())


def get_target(name: str) -> Target:
    try:
        return _TARGETS[name]
    except KeyError:
        raise InvalidChoiceError("target", name, target_names()) from None


register(Target(
    name="onnx-fp32",
    runtime="onnxruntime",
    precision="fp32",
    isa="any",
    passes=("export", "validate"),
    model_file="model.onnx",
    description="plain ONNX export, FP32, validated against PyTorch",
    reason="The unoptimised reference graph every other target starts from; FP32 keeps it equal to "
           "PyTorch within 1e-4, and plain ONNX ops run on any ONNX Runtime build and CPU.",
))

register(Target(
    name="onnxruntime-fp32",
    runtime="onnxruntime",
    precision="fp32",
    isa="any",
    passes=("export", "fuse", "prune-rows", "split-kernels", "validate"),
    model_file="model.onnx",
    description="ONNX Runtime transformer fusions (Attention, SkipLayerNorm, BiasGelu), FP32",
    reason="Fused com.microsoft kernels replace ~20 small ops per layer with one each, cutting memory "
           "traffic on every CPU; FP32 keeps PyTorch's answers. Fused Attention assumes right padding. "
           "A fused kernel is split back into standard ops where that times faster on the building machine "
           "(ORT 1.32 on x86-64: SkipLayerNormalization 0.33 ms, Add + LayerNormalization 0.1 ms at 128 x 768).",
))

register(Target(
    name="openvino-fp32",
    runtime="openvino",
    precision="fp32",
    isa="x86-64",
    passes=("export", "prune-rows", "openvino-ir", "validate"),
    model_file="model.xml",
    inference_precision="f32",
    description="OpenVINO IR, FP32 weights, run with inference precision pinned to f32",
    reason="OpenVINO's CPU plugin runs 'fp32' models in bf16 on CPUs with BF16 (and f16 on ARM) unless "
           "told otherwise; pinning f32 makes the artefact mean what its name says.",
))

register(Target(
    name="openvino-fp16",
    runtime="openvino",
    precision="fp16",
    isa="any",
    passes=("export", "prune-rows", "openvino-ir", "validate"),
    model_file="model.xml",
    settings={"validate": {"samples": 256}},  # enough sentences for a stable nearest-neighbour figure
    description="OpenVINO IR with fp16-compressed weights (half the size), device-default precision",
    reason="fp16 weights halve the download and disk size; the CPU plugin decompresses them at load and "
           "computes in its default precision (f32, bf16 on BF16 CPUs, f16 on ARM), recorded in edgekit.json.",
))

register(Target(
    name="openvino-arm64",
    runtime="openvino",
    precision="int8-weights",
    isa="arm64",
    passes=("export", "prune-rows", "openvino-ir", "compress-weights", "validate"),
    model_file="model.xml",
    settings={"validate": {"samples": 1000, "min_neighbour_agreement": 0.96}},  # the INT8 targets' gate
    description="OpenVINO for ARM CPUs: int8-compressed weights, f16 compute",
    cores="Any ARMv8 core: it computes in float, f16 where the core has fp16 arithmetic (Cortex-A55/A76 and newer, "
          "Graviton 2+) and f32 where it has not (Cortex-A72: Raspberry Pi 4). The pick for a Raspberry Pi 4.",
    reason="OpenVINO's ARM CPU plugin has limited int8 kernels and often runs int8 (FakeQuantize) models in "
           "f16 anyway; weight-only int8 quarters the weight bytes versus f32 and decompresses into the f16 "
           "the ARM plugin computes in by default, so it gets the size win without relying on int8 kernels.",
))

register(Target(
    name="onnxruntime-int8",
    runtime="onnxruntime",
    precision="int8",
    isa="x86-64",
    passes=("export", "fuse", "prune-rows", "quantize-ort", "quantize-embeddings", "split-kernels", "validate"),
    model_file="model.onnx",
    # The unfused candidates (dynamic-pc-unfused, ...) timed 10% faster in builds but gave the same ratio to
    # onnx-fp32 in a quiet benchmark, and their search needs more float ops on MiniLM: opt in by recipe.
    # The x86 INT8 targets keep the project's fidelity standard: nearest neighbours kept for 95% of sentences
    # the build never saw. The gate runs on 1000 validation sentences (on 256 the MiniLM figure moved by
    # +-0.02 between neighbouring candidates) and asks 0.96, a margin for sampling (one binomial standard
    # error is 0.007 at 1000): MiniLM builds that passed at 0.957 and 0.953 kept 0.946 and 0.942 on others.
    # The embedding table stays reachable (no EmbedLayerNormalization) so quantize-embeddings can shrink it.
    settings={"fuse": {"embed_layer_norm": False},
              # Up to 16 ops in float: on x86 without VNNI, MiniLM kept its gate only past 8 (0.955 at 8).
              "quantize": {"candidates": ("dynamic-pc", "dynamic-pc-split", "dynamic-pc-u8u8",
                                          "dynamic-pc-split-u8u8"), "max_float_ops": 16},
              "validate": {"samples": 1000, "min_neighbour_agreement": 0.96}},
    description="INT8 of the fused graph for x86-64, fastest method inside the accuracy budget",
    reason="VNNI CPUs run U8S8 integer MatMuls about 4x faster than FP32; dynamic activation scales need no "
           "calibration to stay in range, per-channel weight scales keep small real models accurate, and the "
           "few outlier activation channels of trained models are routed through float so one scale fits the "
           "rest. On x86 without VNNI U8S8 saturates, so it runs with 7-bit weights there, and U8U8 candidates "
           "(exact on any x86, full 8 bits) compete: the build keeps whichever is fastest inside the budget. As for "
           "onnxruntime-fp32, fused kernels stay fused only where they are not the slower form (BiasGelu "
           "too: its bias joins the INT8 MatMul and plain Gelu runs 2x faster). The word-embedding table, 47% of "
           "DistilRoBERTa's weights and untouched by ORT's quantisers, is stored in the fewest bits (int4 blocks, "
           "int8 rows, fp16) that keep the budget: a download and RAM cost on every device, a row gather at run "
           "time.",
))

register(Target(
    name="onnxruntime-int8-arm64",
    runtime="onnxruntime",
    precision="int8",
    isa="arm64",
    passes=("export", "prune-rows", "quantize-ort", "quantize-embeddings", "ort-format", "validate"),
    model_file="model.onnx",
    # Timing on the x86 build machine says nothing about ARM, so the first passing method in this
    # order wins: S8S8 QDQ where it keeps accuracy; else dynamic INT8 with outlier channels in float, U8U8 so
    # that it is exact both on ARM (UDOT) and on the x86 machine that validates it (U8S8 saturates on x86
    # without VNNI and needs 7-bit weights there, which ARM does not). The gate is the x86 INT8 targets'.
    settings={"quantize": {"candidates": ("static-s8s8-minmax-pc", "dynamic-pc-split-u8u8"), "choose": "first",
                           "max_float_ops": 16},
              "validate": {"samples": 1000, "min_neighbour_agreement": 0.96}},
    description="INT8 for ARM64 (S8S8 QDQ per-channel, else dynamic), also as .ort + operator list for ORT Mobile",
    cores="ARMv8.2 cores with the dot-product extension (asimddp: Cortex-A55/A76 and newer, Graviton 2+, Raspberry "
          "Pi 5, recent phones). Without it (Cortex-A72: Raspberry Pi 4) int8 MatMuls fall back to widening "
          "multiplies and run slower than FP32 (ArmNN #511, ComputeLibrary #855): pick openvino-arm64 there.",
    reason="ARM's SDOT/SMMLA multiply signed int8 pairs natively, so S8S8 has no saturation hazard and QDQ "
           "is the format ARM kernels and mobile execution providers (XNNPACK, NNAPI) consume; per-channel "
           "weight scales keep accuracy. Static activation ranges fail on trained models with outlier "
           "channels (MiniLM: mean cosine 0.94), so dynamic U8U8 with those channels in float is the fallback. "
           "Unfused standard ops keep it portable to minimal ORT builds; the .ort copy is optimised for ARM "
           "at conversion and lists its operators for a reduced-size runtime. The word-embedding table is stored "
           "in the fewest bits that keep the budget, as for onnxruntime-int8: a phone downloads it.",
))

register(Target(
    name="openvino-int8",
    runtime="openvino",
    precision="int8",
    isa="x86-64",
    passes=("export", "prune-rows", "openvino-ir", "quantize-nncf", "validate"),
    model_file="model.xml",
    # A ladder from all-INT8 to more ops in float; the fastest passing rung wins. No per-op search:
    # each NNCF build recalibrates, so measuring 36 ops one by one would take many minutes.
    # Eager attention: SDPA's export computes its scale from the shape at run time, which keeps Q's scaling
    # Multiply and a float Transpose outside OpenVINO's INT8 attention; the eager graph's constant scale
    # lets them fold (measured 4-5% faster INT8 on random:distilroberta-base, same FP32 outputs to 2e-7).
    settings={"export": {"attention": "eager"},
              "quantize": {"candidates": ("nncf", "nncf-sq0.9-ffn-out-float", "nncf-sq0.9-ffn-float",
                                          "nncf-weights-int8"), "search": False},
              "validate": {"samples": 1000, "min_neighbour_agreement": 0.96}},  # see onnxruntime-int8
    description="OpenVINO IR quantised by NNCF (post-training, ModelType.TRANSFORMER), calibrated on real text",
    reason="NNCF's transformer preset keeps LayerNorm, Softmax and GELU in float and quantises the MatMuls "
           "that dominate the time; OpenVINO's CPU plugin runs them with VNNI/AMX int8 kernels on x86-64. "
           "The weight MatMuls get unsigned (u8) activations, the form VNNI multiplies natively, and the "
           "embedding tables stay int8 in memory. On x86 without VNNI, where the plugin's static INT8 loses "
           "accuracy, INT8 weights with float activations are the last candidate.",
))

register(Target(
    name="pytorch-int8",
    runtime="torch",
    precision="int8",
    isa="x86-64",
    passes=("quantize-inc", "validate"),
    model_file="model.pt2",
    settings={"quantize": {"candidates": ("inc-static", "inc-static-ffn-out-float"), "search": False},
              "validate": {"samples": 1000, "min_neighbour_agreement": 0.96}},  # see onnxruntime-int8
    description="PyTorch INT8 by Intel Neural Compressor (PT2E static, x86 quantizer), a torch.export program",
    reason="For apps that already ship PyTorch: Intel Neural Compressor's static INT8 (u8 per-tensor activations "
           "calibrated on real text, s8 per-channel weights) as a saved torch.export program with int8 weights; "
           "TorchInductor compiles it with freezing into oneDNN INT8 kernels (VNNI/AMX on x86-64) on the first "
           "call, so the first call takes seconds to minutes and every new process pays it again. It needs torch "
           "(hundreds of MB), so it is not bundled for the light runtime.",
))
