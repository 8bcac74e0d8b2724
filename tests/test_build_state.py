"""BuildState: what the passes of one build share (unit tests with fake runners)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from edgekit.build.state import BuildState


def test_evaluate_runs_a_file_once_until_the_file_changes(tmp_path, monkeypatch):
    import edgekit.build.fidelity as fidelity
    import edgekit.runtime.sessions as sessions

    opened: list[tuple] = []

    def open_runner(path, *, precision=None):
        opened.append((path, precision))
        return lambda feeds: {"logits": np.zeros((1, 2))}

    monkeypatch.setattr(sessions, "open_runner", open_runner)
    monkeypatch.setattr(fidelity, "compare_outputs",
                        lambda task, reference, candidate, masks: {"runs": len(opened), "outputs": {}})
    state = BuildState(source=None, task=None, target=SimpleNamespace(inference_precision=None), recipe=None,
                       work_dir=tmp_path, out_dir=tmp_path, scratch=tmp_path, progress=None)
    state.__dict__.update(validation_batches=[{"attention_mask": np.ones((1, 2))}], reference=[None])
    model = tmp_path / "candidate.onnx"
    model.write_bytes(b"first")

    first = state.evaluate(model)
    first["outputs"]["mine"] = 1  # the validate pass adds to its figures: not to the kept ones
    assert state.evaluate(model) == {"runs": 1, "outputs": {}} and len(opened) == 1  # the search's, reused
    assert state.evaluate(model, precision="f32")["runs"] == 2  # another precision runs again
    model.write_bytes(b"rewritten")  # a file written again is run again
    assert state.evaluate(model)["runs"] == 3 and len(opened) == 3
