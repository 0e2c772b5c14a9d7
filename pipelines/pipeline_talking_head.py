# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""``TalkingHeadPipeline``: animate a source face with the motion of a driving video.

Two entry points share one streaming core:

* ``pipe(source, driving, ...)`` returns all frames (PIL, numpy or torch);
* ``pipe.animate_to_file(source, driving_path, output_path, ...)`` decodes, animates and encodes the
  driving video batch by batch, so memory does not grow with the video's length, keeps the driving
  fps and audio, and writes the file atomically.

Both can crop the face out of un-cropped footage and paste the animated face back into the
full-resolution source image (``crop=True``), pick the driving frame that best matches the source's
pose as the motion reference (``find_best_frame=True``) and smooth the driving keypoints over time
(``smoothing``). Everything that depends only on the source image is computed once per call.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Union

import numpy as np
import PIL.Image
import torch
from tqdm.auto import tqdm

from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput, replace_example_docstring

from mcc_hf.animator import Animator, PreparedSource
from mcc_hf.errors import InvalidInputError, NoFaceFoundError, UserInputError
from mcc_hf.face.crop import CropBox, FaceCropper, face_crop_box, feather_mask, paste_back
from mcc_hf.face.landmarks import FaceBox
from mcc_hf.generator import CompensatoryGenerator
from mcc_hf.image_processing import (
    ImageInput,
    from_model_range,
    iter_frames,
    load_image,
    postprocess,
    resize_to,
    to_model_range,
    to_uint8,
)
from mcc_hf.motion.dense_motion import DenseMotionNetwork
from mcc_hf.motion.keypoint_detector import KeypointDetector
from mcc_hf.motion.keypoints import Keypoints, convex_hull_area
from mcc_hf.motion.smoothing import KeypointSmoother
from mcc_hf.video import VideoInfo, VideoWriter, probe_video, read_frames

__all__ = ["AnimateToFileResult", "TalkingHeadPipeline", "TalkingHeadPipelineOutput"]

logger = logging.getLogger(__name__)

#: A driving video: a file path, a ``[T, 3, H, W]`` tensor / ``[T, H, W, 3]`` array, or a sequence or
#: iterator of images (PIL, numpy, torch or paths).
DrivingVideo = Union[str, os.PathLike, torch.Tensor, np.ndarray, Iterable[ImageInput]]

#: Frame rate assumed for smoothing when the driving frames come without one (not from a file).
DEFAULT_FPS = 25.0
#: Without ``find_best_frame`` the driving face is detected on every ``DETECT_EVERY``-th frame.
DETECT_EVERY = 5

EXAMPLE_DOC_STRING = """
    Examples:
        ```py
        >>> from mcc_hf import TalkingHeadPipeline
        >>> pipe = TalkingHeadPipeline.from_pretrained("path/to/pipeline")  # a local folder or a Hub id
        >>> frames = pipe("face.png", "driving.mp4", output_type="pil").frames  # pre-cropped faces
        >>> result = pipe.animate_to_file("portrait.jpg", "driving.mp4", "out.mp4")  # any photo and video
        >>> result.num_frames, result.fps, result.has_audio
        ```
"""


@dataclass
class TalkingHeadPipelineOutput(BaseOutput):
    """
    Args:
        frames: the animated frames: ``[T, 3, H, W]`` float tensor in ``[0, 1]`` (``"pt"``),
            ``[T, H, W, 3]`` float array in ``[0, 1]`` (``"np"``) or a list of ``T`` PIL images (``"pil"``).
    """

    frames: Union[torch.Tensor, np.ndarray, list[PIL.Image.Image]]


@dataclass
class AnimateToFileResult:
    """What :meth:`TalkingHeadPipeline.animate_to_file` wrote.

    Args:
        path: the output video file.
        num_frames: frames written (as many as the driving video has).
        fps: frames per second (the driving video's).
        has_audio: whether the driving video's audio track was copied into the output.
        width, height: frame size of the output in pixels.
    """

    path: str
    num_frames: int
    fps: float
    has_audio: bool
    width: int
    height: int


class _DrivingVideo:
    """A driving video the pipeline can read more than once (a one-shot iterator is buffered only when needed).

    Iterating yields ``[3, H, W]`` float32 frames in ``[0, 1]``.
    """

    def __init__(self, video: DrivingVideo, reread: bool):
        self.info: VideoInfo | None = None
        self._frames = None
        if isinstance(video, (str, os.PathLike)):
            self.info = probe_video(video)
            self.path = os.fspath(video)
        elif isinstance(video, (torch.Tensor, np.ndarray)) or isinstance(video, Sequence):
            self._frames = video
        elif isinstance(video, Iterable) and not isinstance(video, PIL.Image.Image):
            self._frames = list(video) if reread else video
        else:
            raise InvalidInputError(
                "the driving video must be a video file path, a sequence or iterator of images, "
                f"a [T, 3, H, W] tensor or a [T, H, W, 3] array; got {type(video).__name__}"
            )

    @property
    def fps(self) -> float:
        return float(self.info.fps) if self.info is not None else DEFAULT_FPS

    @property
    def num_frames(self) -> int | None:
        if self.info is not None:
            return self.info.num_frames
        return len(self._frames) if hasattr(self._frames, "__len__") else None

    def __iter__(self) -> Iterator[torch.Tensor]:
        if self.info is not None:
            return (load_image(frame) for frame in read_frames(self.path))
        return iter_frames(self._frames)


def normalized_landmarks(points: np.ndarray) -> np.ndarray:
    """68 face landmarks ``[68, 2]`` (pixels) -> centred and divided by the square root of their hull area,
    so that faces of any size and position compare by expression and pose only."""
    centered = points - points.mean(axis=0)
    area = convex_hull_area(torch.from_numpy(centered))
    return centered / math.sqrt(area) if area > 0 else centered


@dataclass
class _Plan:
    """Everything an animation reuses for every frame, worked out before the first frame is rendered.

    Args:
        source: the prepared source crop at the model size.
        output_size: ``(H, W)`` of the output frames.
        background: ``[3, H, W]`` source at the output size when pasting back, else ``None``.
        paste_box, mask: where and with what weight the animated crop is pasted into ``background``.
        driving_box: the crop box of the driving frames (``None``: frames are used whole).
        reference: keypoints of the driving frame the relative motion is measured from (``None``: the first frame).
    """

    source: PreparedSource
    output_size: tuple[int, int]
    background: torch.Tensor | None = None
    paste_box: CropBox | None = None
    mask: torch.Tensor | None = None
    driving_box: CropBox | None = None
    reference: Keypoints | None = None


def check_compatible(keypoint_detector: KeypointDetector, dense_motion: DenseMotionNetwork,
                     generator: CompensatoryGenerator) -> None:
    """Raise ``ValueError`` naming the mismatch if the three components cannot work together."""
    kp, dm, gen = keypoint_detector.config, dense_motion.config, generator.config
    problems = []
    if not kp.num_keypoints == dm.num_keypoints == gen.num_keypoints:
        problems.append(
            f"num_keypoints differ (keypoint_detector {kp.num_keypoints}, dense_motion {dm.num_keypoints}, "
            f"generator {gen.num_keypoints})"
        )
    motion_size = gen.sample_size * dm.scale_factor
    if motion_size != gen.motion_size:
        problems.append(
            f"the dense motion grid ({gen.sample_size} x {dm.scale_factor} = {motion_size:g}) differs from the "
            f"generator's motion_size {gen.motion_size}"
        )
    if problems:
        raise ValueError("incompatible pipeline components: " + "; ".join(problems))


class TalkingHeadPipeline(DiffusionPipeline):
    r"""Pipeline for one-shot talking-head video generation with multi-scale compensatory codebooks.

    Components:
        keypoint_detector ([`KeypointDetector`]): keypoints and Jacobians of source and driving frames.
        dense_motion ([`DenseMotionNetwork`]): dense flow and occlusion from keypoints.
        generator ([`CompensatoryGenerator`]): renders the frame with motion and appearance compensation.
    """

    model_cpu_offload_seq = "keypoint_detector->dense_motion->generator"

    def __init__(self, keypoint_detector: KeypointDetector, dense_motion: DenseMotionNetwork,
                 generator: CompensatoryGenerator):
        super().__init__()
        check_compatible(keypoint_detector, dense_motion, generator)
        self.register_modules(keypoint_detector=keypoint_detector, dense_motion=dense_motion, generator=generator)

    @classmethod
    def from_preset(cls, preset: str = "vox-256") -> "TalkingHeadPipeline":
        """A pipeline with freshly initialised (untrained) weights from a named preset or a JSON config file."""
        from mcc_hf.presets import get_preset

        keypoint_detector, dense_motion, generator = get_preset(preset).build()
        pipe = cls(keypoint_detector=keypoint_detector, dense_motion=dense_motion, generator=generator)
        for module in (keypoint_detector, dense_motion, generator):
            module.eval()
        return pipe

    @property
    def sample_size(self) -> int:
        """Side of the square images the model works on."""
        return self.generator.config.sample_size

    @property
    def animator(self) -> Animator:
        return Animator(self.keypoint_detector, self.dense_motion, self.generator)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` in ``[0, 1]`` -> model input: resized, in ``[-1, 1]``, on the model's device and dtype."""
        images = resize_to(images, self.sample_size)
        return to_model_range(images).to(device=self._execution_device, dtype=self.generator.dtype)

    @torch.inference_mode()
    def prepare_source(self, source_image: ImageInput) -> PreparedSource:
        """Load a (pre-cropped) source image and compute its keypoints and generator features."""
        return self.animator.prepare_source(self.preprocess(load_image(source_image)[None]))

    def _progress(self, total: int | None, desc: str):
        config = dict(getattr(self, "_progress_bar_config", None) or {})
        config.setdefault("desc", desc)
        config.setdefault("unit", "frame")
        return tqdm(total=total, **config)

    # Planning: source, crop boxes and the motion reference, before any frame is rendered -----------
    def _plan(
        self,
        source_image: ImageInput,
        driving: _DrivingVideo,
        *,
        relative: bool,
        adapt_scale: bool,
        reference_frame: ImageInput | None,
        find_best_frame: bool,
        crop: bool,
        output_size: int | None,
    ) -> tuple[_Plan, float]:
        """Returns the plan and the movement scale of relative mode."""
        source = load_image(source_image)
        height, width = source.shape[-2:]
        if find_best_frame and not relative:
            logger.warning("find_best_frame only matters in relative mode; ignoring it in absolute mode")
            find_best_frame = False
        if find_best_frame and reference_frame is not None:
            raise UserInputError("pass either reference_frame or find_best_frame, not both")

        cropper = FaceCropper() if (crop or find_best_frame) else None
        source_u8 = to_uint8(source[None])[0] if cropper is not None else None
        source_face = cropper.detect(source_u8, cnn_fallback=True) if cropper is not None else None
        if cropper is not None and source_face is None:
            hint = "; pass crop=False / --no-crop for pre-cropped faces" if crop else ""
            raise NoFaceFoundError(f"no face found in the source image{hint}")

        if crop:
            source_box = face_crop_box([source_face], (height, width))
            out_height = output_size or height
            out_width = max(1, round(width * out_height / height))
            factor = out_height / height
            background = source if (out_height, out_width) == (height, width) else resize_to(source[None], (out_height, out_width))[0]
            paste_box = source_box.rescale(factor, (out_height, out_width))
            plan = _Plan(
                source=self.animator.prepare_source(self.preprocess(source_box.crop(source)[None])),
                output_size=(out_height, out_width),
                background=background,
                paste_box=paste_box,
                mask=feather_mask(paste_box, (out_height, out_width)),
            )
        else:
            side = output_size or self.sample_size
            plan = _Plan(source=self.animator.prepare_source(self.preprocess(source[None])), output_size=(side, side))

        best_frame = None
        if crop or find_best_frame:
            source_landmarks = None
            if find_best_frame:
                points = cropper.analyzer.landmarks(source_u8, source_face)
                source_landmarks = normalized_landmarks(points)
            plan.driving_box, best_frame = self._scan_driving(driving, cropper, crop, source_landmarks)
            if best_frame is not None:
                reference_frame = best_frame

        movement_scale = 1.0
        if relative and reference_frame is not None:
            reference = load_image(reference_frame)
            if plan.driving_box is not None:
                reference = self._crop_driving(reference, plan.driving_box, "reference frame")
            plan.reference = self.animator.detect_keypoints(self.preprocess(reference[None]))
            movement_scale = self.animator.movement_scale(plan.source, plan.reference, adapt_scale)
        return plan, movement_scale

    def _scan_driving(self, driving: _DrivingVideo, cropper: FaceCropper, crop: bool,
                      source_landmarks: np.ndarray | None) -> tuple[CropBox | None, torch.Tensor | None]:
        """One pass over the driving video: its face crop box (if ``crop``) and the frame whose
        normalised landmarks are closest to the source's (if ``source_landmarks`` is given)."""
        faces = []
        best_frame, best_distance, best_index = None, math.inf, -1
        frame_size = None
        every = 1 if source_landmarks is not None else DETECT_EVERY
        progress = self._progress(driving.num_frames, "finding the face" if source_landmarks is None else "finding the best frame")
        for index, frame in enumerate(driving):
            progress.update(1)
            frame_size = frame_size or tuple(frame.shape[-2:])
            if index % every:
                continue
            image = to_uint8(frame[None])[0]
            small, factor = cropper.shrink(image)
            detected = cropper.analyzer.detect(small)
            if not detected:
                continue
            face = detected[0]
            faces.append(FaceBox(face.left * factor, face.top * factor, face.right * factor, face.bottom * factor))
            if source_landmarks is not None:
                points = cropper.analyzer.landmarks(small, face)
                distance = float(((normalized_landmarks(points) - source_landmarks) ** 2).sum())
                if distance < best_distance:
                    best_frame, best_distance, best_index = frame, distance, index
        progress.close()
        if frame_size is None:
            raise InvalidInputError("the driving video has no frames")
        if source_landmarks is not None:
            if best_frame is None:
                logger.warning("no face found in the driving video for find_best_frame; using its first frame")
            else:
                logger.info("best matching driving frame: %d", best_index)
        if not crop:
            return None, best_frame
        box = face_crop_box(faces, frame_size)
        if box is None:
            raise NoFaceFoundError("no face found in the driving video; pass crop=False / --no-crop for pre-cropped faces")
        return box, best_frame

    @staticmethod
    def _crop_driving(frame: torch.Tensor, box: CropBox, what: str = "driving frame") -> torch.Tensor:
        if frame.shape[-2] < box.bottom or frame.shape[-1] < box.right:
            raise InvalidInputError(
                f"the {what} ({frame.shape[-1]}x{frame.shape[-2]}) is smaller than the first driving frame; "
                "all driving frames must have one size"
            )
        return box.crop(frame)

    # Rendering ---------------------------------------------------------------------------------
    def _render(self, plan: _Plan, driving: _DrivingVideo, *, relative: bool, adapt_scale: bool,
                movement_scale: float, smoothing: float, batch_size: int) -> Iterator[torch.Tensor]:
        """Yield the animated frames batch by batch: ``[B, 3, H, W]`` float32 in ``[0, 1]`` on the CPU."""
        animator = self.animator
        smoother = KeypointSmoother(smoothing, fps=driving.fps)
        reference = plan.reference

        def render(crops: list[torch.Tensor]) -> torch.Tensor:
            nonlocal reference, movement_scale
            keypoints = smoother(animator.detect_keypoints(self.preprocess(torch.stack(crops))))
            if relative:
                if reference is None:
                    reference = keypoints[0]
                    movement_scale = animator.movement_scale(plan.source, reference, adapt_scale)
                keypoints = animator.transfer_keypoints(plan.source, keypoints, reference, movement_scale)
            frames = from_model_range(animator.render(plan.source, keypoints).sample.float()).cpu()
            if plan.background is not None:
                return paste_back(plan.background, frames, plan.paste_box, plan.mask)
            return resize_to(frames, plan.output_size)

        batch: list[torch.Tensor] = []
        for frame in driving:
            if plan.driving_box is not None:
                frame = self._crop_driving(frame, plan.driving_box)
            batch.append(resize_to(frame[None], self.sample_size)[0])
            if len(batch) == batch_size:
                yield render(batch)
                batch = []
        if batch:
            yield render(batch)

    def _animate(self, source_image, driving_video, *, relative, adapt_scale, reference_frame, find_best_frame,
                 crop, smoothing, batch_size, output_size) -> tuple[_DrivingVideo, Iterator[torch.Tensor]]:
        if batch_size < 1:
            raise UserInputError(f"batch_size must be at least 1, got {batch_size}")
        if not 0.0 <= smoothing <= 1.0:
            raise UserInputError(f"smoothing must be between 0 and 1, got {smoothing}")
        if output_size is not None and output_size < 2:
            raise UserInputError(f"output_size must be at least 2 pixels, got {output_size}")
        driving = _DrivingVideo(driving_video, reread=crop or (find_best_frame and relative))
        plan, movement_scale = self._plan(
            source_image, driving, relative=relative, adapt_scale=adapt_scale, reference_frame=reference_frame,
            find_best_frame=find_best_frame, crop=crop, output_size=output_size,
        )
        batches = self._render(plan, driving, relative=relative, adapt_scale=adapt_scale,
                               movement_scale=movement_scale, smoothing=smoothing, batch_size=batch_size)
        return driving, batches

    @torch.inference_mode()
    @replace_example_docstring(EXAMPLE_DOC_STRING)
    def __call__(
        self,
        source_image: ImageInput,
        driving_video: DrivingVideo,
        *,
        relative: bool = True,
        adapt_scale: bool = True,
        reference_frame: ImageInput | None = None,
        find_best_frame: bool = False,
        crop: bool = False,
        smoothing: float = 0.0,
        batch_size: int = 4,
        output_size: int | None = None,
        output_type: Literal["pil", "np", "pt"] = "pil",
        return_dict: bool = True,
    ) -> TalkingHeadPipelineOutput | tuple:
        r"""Animate ``source_image`` with the motion of ``driving_video`` and return every frame.

        The whole result is held in memory; for long videos use :meth:`animate_to_file`, which streams.

        Args:
            source_image: the face to animate: a PIL image (any mode: grayscale, RGBA, 16-bit), a numpy
                array ``(H, W[, C])`` (uint8, uint16 or float in ``[0, 1]``), a tensor ``[C, H, W]`` in
                ``[0, 1]`` or an image path.
            driving_video: a video file path, a sequence or iterator of such images, a tensor
                ``[T, 3, H, W]`` in ``[0, 1]`` or an array ``[T, H, W, 3]``. Files are decoded frame by frame.
            relative: transfer the driving motion *relative* to a reference driving frame onto the
                source keypoints (FOMM relative mode, with relative Jacobians). With ``False`` the
                driving keypoints are used as they are (absolute mode).
            adapt_scale: in relative mode, scale the motion by the ratio of the source and reference
                keypoint-hull sizes.
            reference_frame: the driving frame whose pose matches the source (default: the first driving frame).
            find_best_frame: in relative mode, use as reference the driving frame whose normalised face
                landmarks are closest to the source's (needs the ``[face]`` extra; about 50 ms per frame).
            crop: detect the face in the source and in the driving video, animate square face crops
                (one fixed box per video) and paste the result back into the full source image with
                a feathered edge. ``False`` (the default here) expects pre-cropped faces, which are
                resized to the model size as they are.
            smoothing: temporal smoothing of the driving keypoints, 0 (off) to 1 (strongest); see
                :class:`~mcc_hf.motion.smoothing.KeypointSmoother`.
            batch_size: driving frames rendered per forward pass.
            output_size: height of the output frames. Default: the source's height with ``crop``
                (the width keeps the source's aspect ratio), else the model size.
            output_type: ``"pil"``, ``"np"`` or ``"pt"`` (see :class:`TalkingHeadPipelineOutput`).
            return_dict: return a :class:`TalkingHeadPipelineOutput` instead of a tuple.

        Raises:
            InvalidInputError: an image or the video cannot be read, or holds no frame.
            NoFaceFoundError: ``crop`` or ``find_best_frame`` found no face where one is needed.

        Examples:
        """
        driving, batches = self._animate(
            source_image, driving_video, relative=relative, adapt_scale=adapt_scale, reference_frame=reference_frame,
            find_best_frame=find_best_frame, crop=crop, smoothing=smoothing, batch_size=batch_size,
            output_size=output_size,
        )
        outputs = []
        with self._progress(driving.num_frames, "animating") as progress:
            for frames in batches:
                outputs.append(frames)
                progress.update(len(frames))
        if not outputs:
            raise InvalidInputError("no driving frames were given")
        frames = postprocess(torch.cat(outputs), output_type)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (frames,)
        return TalkingHeadPipelineOutput(frames=frames)

    @torch.inference_mode()
    def animate_to_file(
        self,
        source_image: ImageInput,
        driving_video: str | os.PathLike,
        output_path: str | os.PathLike,
        *,
        relative: bool = True,
        adapt_scale: bool = True,
        find_best_frame: bool = False,
        crop: bool = True,
        smoothing: float = 0.0,
        batch_size: int = 4,
        output_size: int | None = None,
        keep_audio: bool = True,
        callback: Callable[[int, int | None], None] | None = None,
    ) -> AnimateToFileResult:
        r"""Animate ``source_image`` with a driving video file and write the result as a video file.

        Frames are decoded, animated and encoded batch by batch, so memory stays flat however long
        the video is. The output has the driving video's fps and (with ``keep_audio``) its audio
        track. The file appears only when complete: frames go to a hidden temporary file in the same
        folder, renamed to ``output_path`` at the end; on any error nothing is left behind.

        Args:
            source_image: the face to animate (see :meth:`__call__`); with ``crop`` any photo with a face,
                of any size or aspect ratio.
            driving_video: path of the driving video (any format FFmpeg reads).
            output_path: the video to write: ``.mp4``, ``.m4v``, ``.mov`` or ``.mkv`` (H.264). An existing
                file is replaced.
            relative, adapt_scale, find_best_frame, smoothing, batch_size: see :meth:`__call__`.
            crop: see :meth:`__call__`; on by default here. Pass ``False`` for a pre-cropped face and video.
            output_size: height of the output video (even sizes are needed for H.264: an odd last
                row or column is dropped). Default: the source's height with ``crop``, else the model size.
            keep_audio: copy the driving video's audio track (AAC, MP3, ... as is; other codecs re-encoded to AAC).
            callback: called as ``callback(frames_done, total_frames_or_None)`` after each batch.

        Returns:
            :class:`AnimateToFileResult` describing the written file.
        """
        if not isinstance(driving_video, (str, os.PathLike)):
            raise InvalidInputError(
                f"animate_to_file needs the driving video as a file path, got {type(driving_video).__name__}; "
                "call the pipeline directly for frames in memory"
            )
        driving, batches = self._animate(
            source_image, driving_video, relative=relative, adapt_scale=adapt_scale, reference_frame=None,
            find_best_frame=find_best_frame, crop=crop, smoothing=smoothing, batch_size=batch_size,
            output_size=output_size,
        )
        total = driving.num_frames
        with VideoWriter(output_path, driving.info.fps, audio_from=driving.path if keep_audio else None) as writer, \
                self._progress(total, "animating") as progress:
            for frames in batches:
                writer.write(to_uint8(frames))
                progress.update(len(frames))
                if callback is not None:
                    callback(writer.num_frames, total)
        self.maybe_free_model_hooks()
        return AnimateToFileResult(
            path=os.fspath(output_path), num_frames=writer.num_frames, fps=float(driving.info.fps),
            has_audio=writer.has_audio, width=writer.width, height=writer.height,
        )
