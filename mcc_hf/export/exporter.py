# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Export a talking-head model to ONNX: the source graph, the keypoint graph and the per-frame graph.

The output folder holds ``source.onnx``, ``keypoints.onnx``, ``frame.onnx`` and ``export_config.json``
(what :class:`~mcc_hf.export.OnnxTalkingHeadRunner` needs: sizes, input and output names). It is
written atomically: it appears only once every file is complete.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from dataclasses import asdict, dataclass, field

import torch

from ..atomic import atomic_folder
from .graphs import FrameGraph, KeypointGraph, SourceGraph

__all__ = ["CONFIG_NAME", "ExportConfig", "export_onnx"]

logger = logging.getLogger(__name__)

#: The manifest written beside the graphs.
CONFIG_NAME = "export_config.json"
#: The opset the graphs are exported with (GridSample needs at least 16).
DEFAULT_OPSET = 18
#: Argument names of :meth:`FrameGraph.forward`.
FRAME_ARGUMENTS = ("driving", "source", "source_value", "source_jacobian", "reference_value", "reference_jacobian",
                   "movement_scale", "relative", "features")
#: Bumped when the graphs' inputs or outputs change.
FORMAT_VERSION = 1


@dataclass
class ExportConfig:
    """What ``export_config.json`` records about an exported model.

    Args:
        sample_size: side ``S`` of the square images (inputs and outputs are ``[B, 3, S, S]`` in ``[0, 1]``).
        num_keypoints: ``K``.
        feature_shapes: ``[C_k, s_k, s_k]`` of each source feature, coarse to fine.
        source_inputs, source_outputs, keypoint_inputs, keypoint_outputs, frame_inputs, frame_outputs:
            input and output names of the three graphs, in order.
        opset: the ONNX opset.
        format_version: version of this layout.
        mcc_hf_version, torch_version: the versions that exported it.
        graphs: file name of each graph.
    """

    sample_size: int
    num_keypoints: int
    feature_shapes: list[list[int]]
    source_inputs: list[str]
    source_outputs: list[str]
    keypoint_inputs: list[str]
    keypoint_outputs: list[str]
    frame_inputs: list[str]
    frame_outputs: list[str]
    opset: int
    format_version: int = FORMAT_VERSION
    mcc_hf_version: str = ""
    torch_version: str = ""
    graphs: dict[str, str] = field(default_factory=lambda: {
        "source": "source.onnx", "keypoints": "keypoints.onnx", "frame": "frame.onnx"})

    @classmethod
    def load(cls, folder: str | os.PathLike) -> "ExportConfig":
        from ..errors import ModelLoadingError

        path = os.path.join(folder, CONFIG_NAME)
        if not os.path.isfile(path):
            raise ModelLoadingError(f"{folder} is not an exported mcc-hf ONNX folder (it has no {CONFIG_NAME})")
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if data.get("format_version") != FORMAT_VERSION:
            raise ModelLoadingError(
                f"{path} has export format {data.get('format_version')}, this mcc-hf reads {FORMAT_VERSION}; export again"
            )
        return cls(**data)


def export_onnx(
    pipeline,
    output_dir: str | os.PathLike,
    *,
    opset: int = DEFAULT_OPSET,
    replace: bool = True,
) -> ExportConfig:
    """Export ``pipeline``'s model (a :class:`~mcc_hf.TalkingHeadPipeline`, or any object with
    ``keypoint_detector``, ``dense_motion`` and ``generator``) as three ONNX graphs into ``output_dir``.

    The model is exported in float32 on the CPU (a copy is made when it is elsewhere); the batch
    dimension of the keypoint and frame graphs is dynamic. Needs the ``onnx`` and ``onnxscript``
    packages (``pip install "mcc-hf[onnx]"``).

    Args:
        pipeline: the model to export.
        output_dir: the folder to write (created; replaced if it exists and ``replace``).
        opset: ONNX opset version.
        replace: replace an existing ``output_dir``; with ``False`` a non-empty one raises ``FileExistsError``.

    Returns:
        The :class:`ExportConfig` written as ``export_config.json``.
    """
    import copy

    import mcc_hf

    components = [pipeline.keypoint_detector, pipeline.dense_motion, pipeline.generator]
    if any(p.device.type != "cpu" or p.dtype != torch.float32 for m in components for p in m.parameters()):
        components = [copy.deepcopy(m).to("cpu", torch.float32) for m in components]
    keypoint_detector, dense_motion, generator = components
    training = [m.training for m in components]
    for module in components:
        module.eval()

    size = generator.config.sample_size
    num_keypoints = keypoint_detector.config.num_keypoints
    source = SourceGraph(keypoint_detector, generator).eval()
    keypoints = KeypointGraph(keypoint_detector).eval()
    frame = FrameGraph(keypoint_detector, dense_motion, generator).eval()

    image = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    driving = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    try:
        with torch.no_grad():
            source_outputs = source(image)
        num_features = len(source_outputs) - 2
        feature_names = [f"feature_{k}" for k in range(num_features)]
        config = ExportConfig(
            sample_size=size,
            num_keypoints=num_keypoints,
            feature_shapes=[list(t.shape[1:]) for t in source_outputs[2:]],
            source_inputs=["source"],
            source_outputs=["source_value", "source_jacobian", *feature_names],
            keypoint_inputs=["frames"],
            keypoint_outputs=["value", "jacobian"],
            frame_inputs=["driving", "source", "source_value", "source_jacobian", "reference_value",
                          "reference_jacobian", "movement_scale", "relative", *feature_names],
            frame_outputs=["frames"],
            opset=opset,
            mcc_hf_version=mcc_hf.__version__,
            torch_version=torch.__version__,
        )
        # Distinct tensors for distinct inputs: export treats one tensor passed twice as one input.
        frame_args = (driving, image.clone(), source_outputs[0], source_outputs[1], source_outputs[0].clone(),
                      source_outputs[1].clone(), torch.tensor(1.0), torch.tensor(True), list(source_outputs[2:]))
        with atomic_folder(output_dir, replace=replace) as folder:
            _export(source, (image,), os.path.join(folder, config.graphs["source"]),
                    config.source_inputs, config.source_outputs, opset, None)
            batch = torch.export.Dim("batch", min=1, max=4096)
            _export(keypoints, (driving,), os.path.join(folder, config.graphs["keypoints"]),
                    config.keypoint_inputs, config.keypoint_outputs, opset, {"frames": {0: batch}})
            _export(frame, frame_args, os.path.join(folder, config.graphs["frame"]),
                    config.frame_inputs, config.frame_outputs, opset,
                    {name: {0: batch} if name == "driving" else [None] * num_features if name == "features" else None
                     for name in FRAME_ARGUMENTS})
            with open(os.path.join(folder, CONFIG_NAME), "w", encoding="utf-8") as f:
                json.dump(asdict(config), f, indent=2)
                f.write("\n")
    finally:
        for module, mode in zip(components, training):
            module.train(mode)
    logger.info("exported %s (%dx%d, %d keypoints) to %s", type(pipeline).__name__, size, size, num_keypoints, output_dir)
    return config


def _export(module: torch.nn.Module, args: tuple, path: str, input_names: list[str], output_names: list[str],
            opset: int, dynamic_shapes: dict | None) -> None:
    logger.info("exporting %s", os.path.basename(path))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", category=FutureWarning)
        # The source features are one list argument, so torch cannot name the dynamic axis after it.
        warnings.filterwarnings("ignore", message=".*different number of inputs than the flatten dynamic_shapes")
        program = torch.onnx.export(
            module, args, dynamo=True, opset_version=opset, input_names=input_names, output_names=output_names,
            dynamic_shapes=dynamic_shapes,
            external_data=False, optimize=True,
        )
    program.save(path)
