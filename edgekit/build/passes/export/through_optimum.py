"""Export through Optimum's ONNX exporter: its TasksManager picks the OnnxConfig for the model type and task, which
knows each architecture's inputs and dynamic axes. edgekit checks the graph it writes against what edgekit feeds."""

from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from pathlib import Path

from edgekit.build.tasks import Task


class OptimumCannotExport(Exception):
    """Optimum has no exporter for this model type and task, or its graph is not the one edgekit feeds; the
    message is the reason the record keeps."""


def optimum_version() -> str:
    from importlib import metadata

    return f"optimum-onnx {metadata.version('optimum-onnx')}, optimum {metadata.version('optimum')}"


def onnx_config(model, task: Task):
    """Optimum's OnnxConfig for this model and task, or OptimumCannotExport saying why not."""
    import optimum.exporters.onnx.model_configs  # noqa: F401  registers the configs (the package loads lazily)
    from optimum.exporters.tasks import TasksManager

    try:
        constructor = TasksManager.get_exporter_config_constructor(exporter="onnx", model=model, task=task.name,
                                                                   library_name="transformers")
    except (KeyError, ValueError) as exc:
        raise OptimumCannotExport(f"Optimum has no ONNX config for {model.config.model_type} {task.name}: "
                                  f"{str(exc).splitlines()[0][:200]}") from None
    return constructor(model.config, task=task.name)


def export_with_optimum(model, task: Task, dst: Path, *, opset: int, input_names: list[str]) -> str:
    """Write dst with optimum.exporters.onnx.export; returns the OnnxConfig's class name."""
    from optimum.exporters.onnx import export

    config = onnx_config(model, task)
    inputs, outputs = list(config.inputs), list(config.outputs)
    if inputs != input_names:
        raise OptimumCannotExport(f"Optimum's {type(config).__name__} takes inputs {inputs}; edgekit feeds "
                                  f"{input_names} for this checkpoint")
    if outputs != list(task.outputs):
        raise OptimumCannotExport(f"Optimum's {type(config).__name__} writes outputs {outputs}; the {task.name} "
                                  f"task reads {list(task.outputs)}")
    with _quiet():
        export(model, config, dst, opset=opset, device="cpu", do_constant_folding=True)
    return type(config).__name__


@contextmanager
def _quiet():
    """Optimum logs every export step at INFO and warns about tracing; edgekit validates the result itself."""
    loggers = [logging.getLogger(name) for name in ("optimum", "optimum.exporters", "optimum.exporters.onnx")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
