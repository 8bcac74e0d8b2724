"""The architecture registry: the encoder model types edgekit builds, and what each allows.

Every entry was built for every target on a tiny checkpoint (edgekit/build/tiny_checkpoints.py,
tests/test_architectures.py); what ONNX Runtime's transformer optimizer fuses was counted there. Standard library
only: the plan checks a checkpoint against it before any weight loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgekit.errors import InvalidChoiceError, UnsupportedArchitectureError


@dataclass(frozen=True)
class Architecture:
    model_type: str
    # Attention ops ORT's optimizer fuses: "every layer", "all but one" or "none"; the reason beside it.
    attention_fusion: str = "every layer"
    attention_note: str = ""
    # Position ids start after the padding index (RoBERTa's create_position_ids_from_input_ids).
    offset_positions: bool = False
    # target name -> why it cannot be built for this model type
    unsupported_targets: dict[str, str] = field(default_factory=dict)

    def expected_attention(self, layers: int) -> int:
        return {"every layer": layers, "all but one": layers - 1, "none": 0}[self.attention_fusion]


_OPENVINO_IF = ("OpenVINO's CPU plugin cannot compile the If op of dynamic rank in DeBERTa-v2's exported relative "
                "attention")

_ARCHITECTURES: dict[str, Architecture] = {}


def _register(arch: Architecture) -> None:
    if arch.model_type in _ARCHITECTURES:
        raise ValueError(f"duplicate architecture {arch.model_type!r}")
    _ARCHITECTURES[arch.model_type] = arch


_register(Architecture("roberta", offset_positions=True))
_register(Architecture("xlm-roberta", offset_positions=True))
_register(Architecture("camembert", offset_positions=True))
_register(Architecture("bert"))
_register(Architecture("distilbert"))
_register(Architecture("electra"))
_register(Architecture("albert", attention_fusion="all but one",
                       attention_note="ORT's optimizer fuses ALBERT's attention in all layers but one (measured on "
                                      "tiny models: 1 of 2 and 2 of 3, shared or separate layer weights alike); that "
                                      "one runs as standard ops"))
_register(Architecture("mpnet", attention_fusion="none", offset_positions=True,
                       attention_note="MPNet adds a relative position bias inside attention, a pattern ORT's "
                                      "attention fusion does not match"))
_register(Architecture("deberta-v2", attention_fusion="none",
                       attention_note="DeBERTa-v2's disentangled attention has no fused ORT kernel",
                       unsupported_targets={name: _OPENVINO_IF for name in (
                           "openvino-fp32", "openvino-fp16", "openvino-int8", "openvino-arm64")}))


def model_types() -> tuple[str, ...]:
    return tuple(_ARCHITECTURES)


def get_architecture(model_type: str | None) -> Architecture:
    if model_type not in _ARCHITECTURES:
        raise InvalidChoiceError("model type", model_type, model_types())
    return _ARCHITECTURES[model_type]


def check_target(model_type: str, target: str, all_targets: tuple[str, ...]) -> None:
    """Refuse, before loading, a target this model type cannot be built for; name the ones it can."""
    arch = get_architecture(model_type)
    if target in arch.unsupported_targets:
        usable = [name for name in all_targets if name not in arch.unsupported_targets]
        raise UnsupportedArchitectureError(f"target {target} cannot be built for {model_type} models: "
                                           f"{arch.unsupported_targets[target]}; targets for {model_type}: "
                                           f"{', '.join(usable)}")
