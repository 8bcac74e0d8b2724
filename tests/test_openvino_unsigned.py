"""Unsigned activations for weight MatMuls: small OpenVINO graphs, and an NNCF-quantised tiny RoBERTa."""

from __future__ import annotations

import numpy as np
import pytest

ov = pytest.importorskip("openvino")

from edgekit.build.passes.quantize_nncf.unsigned import unsign_weight_matmul_activations  # noqa: E402

HIGH = 1.0
LOW = -HIGH * 128 / 127  # a signed 8-bit symmetric range, as NNCF writes it
STEP = (HIGH - LOW) / 255


def _fake_quantize(x, low: float, high: float, name: str):
    from openvino import opset13 as ops

    lo, hi = ops.constant(np.float32(low)), ops.constant(np.float32(high))
    node = ops.fake_quantize(x, lo, hi, lo, hi, 256)
    node.set_friendly_name(name)
    return node


def _model():
    """x -> signed FQ -> MatMul(weights); x -> signed FQ -> MatMul with itself; x -> asymmetric FQ -> MatMul(weights)."""
    from openvino import opset13 as ops

    rng = np.random.default_rng(0)
    x = ops.parameter([4, 8], np.float32, name="x")
    weights = ops.constant(rng.standard_normal((8, 8)).astype(np.float32))
    to_weights = ops.matmul(_fake_quantize(x, LOW, HIGH, "signed_to_weights"), weights, False, False)
    signed = _fake_quantize(x, LOW, HIGH, "signed_to_activations")
    to_activations = ops.matmul(signed, signed, False, True)
    asymmetric = ops.matmul(_fake_quantize(x, -0.5, HIGH, "asymmetric_to_weights"), weights, False, False)
    return ov.Model([to_weights, to_activations, asymmetric], [x])


def _bounds(model, name: str) -> list[float]:
    node = next(op for op in model.get_ops() if op.get_friendly_name() == name)
    return [float(node.input_value(i).get_node().get_data()) for i in range(1, 5)]


def _outputs(model, x: np.ndarray) -> list[np.ndarray]:
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    result = compiled(x)
    return [result[o] for o in compiled.outputs]


def test_only_signed_ranges_that_feed_weight_matmuls_move_up_one_step():
    model = _model()
    assert unsign_weight_matmul_activations(model) == ["signed_to_weights"]
    low, high, out_low, out_high = _bounds(model, "signed_to_weights")
    assert (low, high) == (out_low, out_high)
    assert low == pytest.approx(LOW + STEP, rel=1e-6) and high == pytest.approx(HIGH + STEP, rel=1e-6)
    assert (high - low) / 255 == pytest.approx(STEP, rel=1e-6)  # same grid step
    assert _bounds(model, "signed_to_activations")[:2] == pytest.approx([LOW, HIGH])
    assert _bounds(model, "asymmetric_to_weights")[:2] == pytest.approx([-0.5, HIGH])
    assert unsign_weight_matmul_activations(model) == []  # nothing left to change


def test_values_inside_both_ranges_quantise_as_before():
    x = np.random.default_rng(1).uniform(LOW + STEP, HIGH, size=(4, 8)).astype(np.float32)
    before = _outputs(_model(), x)
    changed = _model()
    unsign_weight_matmul_activations(changed)
    after = _outputs(changed, x)
    for b, a in zip(before, after):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
