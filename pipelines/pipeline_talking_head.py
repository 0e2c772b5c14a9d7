# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""``TalkingHeadPipeline``: animate a source face with the motion of a driving video.

Every entry point runs the same steps:

1. :meth:`~TalkingHeadPipeline.check_inputs` validates the options (all in one place);
2. :meth:`~TalkingHeadPipeline.prepare_source` loads the photo, finds its face (``crop``), encodes the
   face crop once and sets up the output composition (paste-back into the photo);
3. :meth:`~TalkingHeadPipeline.prepare_driving` scans the driving video once for its face box and, with
   ``find_best_frame``, for the frame whose pose best matches the source;
4. :meth:`~TalkingHeadPipeline.prepare_motion` sets up the relative-motion reference and smoothing;
5. :meth:`~TalkingHeadPipeline.render` renders the driving frames batch by batch (with detail
   transfer, each batch gets the full-resolution source's detail, :mod:`mcc_hf.detail_transfer`);
6. the frames are composed into output frames and returned (``__call__``), written to a video file
   (:meth:`~TalkingHeadPipeline.animate_to_file`) or yielded one by one (:meth:`~TalkingHeadPipeline.stream`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, Union

import numpy as np
import PIL.Image
import torch
from tqdm.auto import tqdm

from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput, replace_example_docstring

from mcc_hf.animator import Animator, MotionTransfer, PreparedSource
from mcc_hf.atomic import terminate_on_signals
from mcc_hf.composition import FrameComposer
from mcc_hf.errors import InvalidInputError, InvalidOptionError, NoFaceFoundError, UserInputError
from mcc_hf.face.crop import MIN_IMAGE_SIDE, CropBox, FaceCropper, FaceObservation, face_crop_box
from mcc_hf.face.scan import DrivingScan, normalized_landmarks, scan_driving
from mcc_hf.generator import CompensatoryGenerator
from mcc_hf.image_processing import (
    ImageInput,
    from_model_range,
    image_size,
    load_image,
    postprocess,
    resize_to,
    to_model_range,
    to_uint8,
)
from mcc_hf.motion.dense_motion import DenseMotionNetwork
from mcc_hf.motion.keypoint_detector import KeypointDetector
from mcc_hf.motion.keypoints import Keypoints
from mcc_hf.motion.smoothing import KeypointSmoother
from mcc_hf.precision import HALF_DTYPES, compile_per_frame, inference_autocast
from mcc_hf.video import DEFAULT_FPS, DrivingVideo, VideoWriter, check_frame_size, check_output_path

__all__ = ["AnimateToFileResult", "TalkingHeadPipeline", "TalkingHeadPipelineOutput"]

logger = logging.getLogger(__name__)

#: A driving video: a file path, a ``[T, 3, H, W]`` tensor / ``[T, H, W, 3]`` array, or a sequence or
#: iterator of images (PIL, numpy, torch or paths).
DrivingVideoInput = Union[str, os.PathLike, torch.Tensor, np.ndarray, Iterable[ImageInput]]

#: With ``crop`` and no ``output_size``, the output keeps the photo's height up to this many pixels.
MAX_DEFAULT_OUTPUT_HEIGHT = 1080

EXAMPLE_DOC_STRING = """
    Examples:
        ```py
        >>> from mcc_hf import DEFAULT_MODEL, TalkingHeadPipeline
        >>> pipe = TalkingHeadPipeline.from_pretrained(DEFAULT_MODEL)  # or a local folder or a Hub id
        >>> frames = pipe("portrait.jpg", "driving.mp4", output_type="pil").frames
        >>> result = pipe.animate_to_file("portrait.jpg", "driving.mp4", "out.mp4")  # streams, keeps the audio
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


@dataclass
class PreparedPhoto:
    """The source side of an animation (step 2).

    Args:
        source: the face crop at the model size, encoded once.
        composer: how rendered frames become output frames; with detail transfer it holds the source
            face at the output resolution (``composer.detail_source``, made once per video).
        face: the face found in the photo (``None`` without ``crop`` or ``find_best_frame``).
    """

    source: PreparedSource
    composer: FrameComposer
    face: FaceObservation | None = None


@dataclass
class AnimationPlan:
    """Everything the frame loop needs, worked out before the first frame is rendered.

    Args:
        source: the prepared source (keypoints and features at the model size).
        composer: how rendered frames become output frames.
        driving_box: the crop box of the driving frames (``None``: frames are used whole).
        motion: turns driving keypoints into the keypoints to render (relative reference, smoothing).
    """

    source: PreparedSource
    composer: FrameComposer
    driving_box: CropBox | None
    motion: MotionTransfer


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


def crop_driving_frame(frame: torch.Tensor, box: CropBox, what: str = "driving frame") -> torch.Tensor:
    """``[3, H, W]`` -> the box; refuses frames smaller than the box (driving frames must have one size)."""
    if frame.shape[-2] < box.bottom or frame.shape[-1] < box.right:
        raise InvalidInputError(
            f"the {what} ({frame.shape[-1]}x{frame.shape[-2]}) is smaller than the first driving frame; "
            "all driving frames must have one size"
        )
    return box.crop(frame)


class TalkingHeadPipeline(DiffusionPipeline):
    r"""Pipeline for one-shot talking-head video generation with multi-scale compensatory codebooks.

    The networks always run in eval mode during inference, whatever mode they are in (their mode is
    restored afterwards), so a pipeline built from modules in training gives the same frames as a
    loaded one.

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
        self._animator: Animator | None = None
        self._mixed_precision: torch.dtype | None = None

    @classmethod
    def from_preset(cls, preset: str = "vox-256") -> "TalkingHeadPipeline":
        """A pipeline with freshly initialised (untrained) weights from a named preset or a JSON config file."""
        from mcc_hf.presets import get_preset

        keypoint_detector, dense_motion, generator = get_preset(preset).build()
        for module in (keypoint_detector, dense_motion, generator):
            module.eval()  # like from_pretrained
        return cls(keypoint_detector=keypoint_detector, dense_motion=dense_motion, generator=generator)

    @property
    def sample_size(self) -> int:
        """Side of the square images the model works on."""
        return self.generator.config.sample_size

    @property
    def animator(self) -> Animator:
        """The :class:`~mcc_hf.animator.Animator` over the current components (rebuilt only when one is replaced)."""
        modules = (self.keypoint_detector, self.dense_motion, self.generator)
        if self._animator is None or any(a is not b for a, b in zip(self._animator.modules, modules)):
            self._animator = Animator(*modules)
        return self._animator

    # Speed options ------------------------------------------------------------------------------
    def enable_mixed_precision(self, dtype: str | torch.dtype = "bfloat16") -> None:
        """Render driving frames in mixed precision from now on (every entry point).

        Convolutions and attention of the per-frame networks run in ``dtype`` under autocast, while the
        geometry (keypoint expectation, Jacobians and their inverses, relative motion, sampling grids and
        flows) stays in float32 and the source is prepared in float32 once per video. The weights are not
        cast. Measured quality and speed per device: ``docs/performance.md``. To cast the whole model
        instead (less accurate), load it with ``torch_dtype=``.

        Args:
            dtype: ``"bfloat16"`` (the best choice on CPUs with avx512_bf16/AMX and on recent GPUs) or
                ``"float16"``, as a string or a ``torch.dtype``.

        Raises:
            InvalidOptionError: another dtype, or a device where autocast is not available.
        """
        half = getattr(torch, dtype, None) if isinstance(dtype, str) else dtype
        if half not in HALF_DTYPES:
            raise InvalidOptionError("dtype", "must be bfloat16 or float16 (float32 needs no mixed precision)", dtype)
        if not torch.amp.is_autocast_available(self._execution_device.type):
            raise InvalidOptionError("dtype", f"must be float32 on {self._execution_device.type} devices (no autocast)", dtype)
        self._mixed_precision = half

    def disable_mixed_precision(self) -> None:
        """Render in the model's own dtype again (see :meth:`enable_mixed_precision`)."""
        self._mixed_precision = None

    def enable_compile(self, **compile_options) -> None:
        """Compile the networks that run for every driving frame with ``torch.compile`` (regional compilation:
        the keypoint detector, the dense motion network and the generator's decoder blocks, fusion modules
        and compensators; not the source encoder, which runs once per video).

        Compilation happens on the first frames of the next animation and again for each new batch or
        frame size, so keep ``batch_size`` fixed. It takes minutes and pays off on long or many videos
        (``docs/performance.md`` has the measured compile times and speed-ups). It is in place: reload the
        pipeline to go back to eager mode.

        Args:
            compile_options: ``torch.compile`` arguments (``mode``, ``backend``, ``dynamic``, ...).
        """
        compile_per_frame(self.keypoint_detector, self.dense_motion, self.generator, **compile_options)

    def _autocast(self):
        """The mixed-precision context of the per-frame networks (a no-op unless enabled)."""
        return inference_autocast(self._execution_device, self._mixed_precision)

    # Step 1 ------------------------------------------------------------------------------------
    @staticmethod
    def check_inputs(
        *,
        relative: bool = True,
        reference_frame: ImageInput | None = None,
        find_best_frame: bool = False,
        smoothing: float = 0.0,
        batch_size: int = 1,
        output_size: int | None = None,
        output_type: str = "pt",
        detail_transfer: bool | None = None,
    ) -> None:
        """Validate the options of an animation (the one place they are checked; the CLI calls it before
        loading the model). Raises :class:`~mcc_hf.errors.UserInputError` naming the problem."""
        def whole(value) -> bool:
            return isinstance(value, int) and not isinstance(value, bool)

        if not whole(batch_size) or batch_size < 1:
            raise InvalidOptionError("batch_size", "must be at least 1 (a whole number)", batch_size)
        if not 0.0 <= smoothing <= 1.0:
            raise InvalidOptionError("smoothing", "must be between 0 and 1", smoothing)
        if output_size is not None and (not whole(output_size) or output_size < 2):
            raise InvalidOptionError("output_size", "must be at least 2 pixels (a whole number)", output_size)
        if output_type not in ("pil", "np", "pt"):
            raise InvalidOptionError("output_type", "must be 'pil', 'np' or 'pt'", output_type)
        if detail_transfer is not None and not isinstance(detail_transfer, bool):
            raise InvalidOptionError("detail_transfer", "must be True, False or None (automatic)", detail_transfer)
        if find_best_frame and reference_frame is not None:
            raise UserInputError("pass either reference_frame or find_best_frame, not both")
        if find_best_frame and not relative:
            logger.warning("find_best_frame only matters in relative mode; ignoring it in absolute mode")

    # Step 2 ------------------------------------------------------------------------------------
    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` in ``[0, 1]`` -> model input: resized, in ``[-1, 1]``, on the model's device and dtype."""
        images = resize_to(images.to(self._execution_device), self.sample_size)
        return to_model_range(images).to(dtype=self.generator.dtype)

    def uses_detail_transfer(self, composer: FrameComposer, detail_transfer: bool | None = None) -> bool:
        """Whether an animation composed by ``composer`` gets detail transfer: ``detail_transfer`` when
        given, else (automatic) exactly when the face lands in the output larger than the model renders it."""
        if detail_transfer is not None:
            return detail_transfer
        return max(composer.face_size) > self.sample_size

    def prepare_source(self, source_image: ImageInput, *, crop: bool = True, output_size: int | None = None,
                       cropper: FaceCropper | None = None, landmarks: bool = False,
                       detail_transfer: bool | None = None) -> PreparedPhoto:
        """Load the source photo, find its face (``crop``), encode the face once, set up the output composition.

        Args:
            source_image: see :meth:`__call__`.
            crop: animate the face crop and paste it back into the photo, instead of using the photo whole.
            output_size: output height (default: the photo's height up to
                :data:`MAX_DEFAULT_OUTPUT_HEIGHT` with ``crop``, else the model size).
            cropper: the face detector (made here when needed).
            landmarks: also measure the face's landmarks (for ``find_best_frame``).
            detail_transfer: see :meth:`__call__`; with it the composer keeps the source face at the
                output resolution.
        """
        height, width = image_size(source_image)
        if (crop or landmarks) and min(height, width) < MIN_IMAGE_SIDE:
            raise InvalidInputError(
                f"the source image ({width}x{height} pixels) is too small to find a face in (at least "
                f"{MIN_IMAGE_SIDE} pixels a side); pass crop=False / --no-crop to use it as it is"
            )
        if crop:
            out_height = output_size or min(height, MAX_DEFAULT_OUTPUT_HEIGHT)
            out_size = (out_height, max(1, round(width * out_height / height)))
        else:
            out_size = (output_size or self.sample_size,) * 2
        # A photo taller than both the output and MAX_DEFAULT_OUTPUT_HEIGHT is reduced while it is decoded
        # (the face crop keeps enough pixels for the model), so memory follows the output size, not the photo's.
        working_height = max(out_size[0], MAX_DEFAULT_OUTPUT_HEIGHT)
        reduced = crop and height > working_height
        size = (working_height, max(1, round(width * working_height / height))) if reduced else None
        photo = load_image(source_image, size=size)

        face = None
        if crop or landmarks:
            cropper = cropper or FaceCropper()
            face = cropper.analyze(to_uint8(photo[None])[0], landmarks=landmarks, cnn_fallback=True)
            if face is None:
                hint = "; pass crop=False / --no-crop for pre-cropped faces" if crop else ""
                raise NoFaceFoundError(f"no face found in the source image{hint}")
        if crop:
            box = face_crop_box([face.box], tuple(photo.shape[-2:]))
            background = resize_to(photo[None], out_size)[0].to(self._execution_device)
            composer = FrameComposer.paste(background, box.rescale(out_size[0] / photo.shape[-2], out_size))
            photo = box.crop(photo)
        else:
            composer = FrameComposer.resize(out_size)
        if self.uses_detail_transfer(composer, detail_transfer):
            # The face at the output resolution, once per video: with a crop, the face box of the
            # background (a view of the photo at the output size); without, the photo at the output size.
            composer = composer.with_detail(None if crop else photo.to(self._execution_device))
        source = self.animator.prepare_source(self.preprocess(photo[None]), cache_codes=True)
        return PreparedPhoto(source=source, composer=composer, face=face)

    # Step 3 ------------------------------------------------------------------------------------
    def prepare_driving(self, driving: DrivingVideo, cropper: FaceCropper, *, crop: bool,
                        source_face: FaceObservation | None = None) -> DrivingScan:
        """Scan the driving video once: its face box (``crop``) and, given the source face's landmarks,
        the frame whose pose matches the source best."""
        landmarks = None
        if source_face is not None and source_face.landmarks is not None:
            landmarks = normalized_landmarks(source_face.landmarks)
        desc = "finding the best frame" if landmarks is not None else "finding the face"
        with self._progress(driving.num_frames, desc) as progress:
            return scan_driving(driving, cropper, find_box=crop, source_landmarks=landmarks, progress=progress)

    # Step 4 ------------------------------------------------------------------------------------
    def prepare_motion(self, source: PreparedSource, *, relative: bool, adapt_scale: bool,
                       reference_frame: ImageInput | None, driving_box: CropBox | None, smoothing: float,
                       fps: float) -> MotionTransfer:
        """The motion transfer of an animation: relative reference (``reference_frame`` or the first
        driving frame), adapt-scale and temporal smoothing."""
        reference = None
        if relative and reference_frame is not None:
            frame = load_image(reference_frame)
            if driving_box is not None:
                frame = crop_driving_frame(frame, driving_box, "reference frame")
            reference = self._detect_driving(frame[None])
        return MotionTransfer(source, relative=relative, adapt_scale=adapt_scale,
                              smoother=KeypointSmoother(smoothing, fps=fps), reference=reference)

    def plan_animation(self, source_image: ImageInput, driving: DrivingVideo, *, relative: bool, adapt_scale: bool,
                       reference_frame: ImageInput | None, find_best_frame: bool, crop: bool, smoothing: float,
                       output_size: int | None, detail_transfer: bool | None = None) -> AnimationPlan:
        """Steps 2-4: everything an animation reuses, before its first frame."""
        find_best_frame = find_best_frame and relative
        cropper = FaceCropper() if crop or find_best_frame else None
        photo = self.prepare_source(source_image, crop=crop, output_size=output_size, cropper=cropper,
                                    landmarks=find_best_frame, detail_transfer=detail_transfer)
        driving_box = None
        if cropper is not None:
            scan = self.prepare_driving(driving, cropper, crop=crop, source_face=photo.face if find_best_frame else None)
            driving_box = scan.box
            if scan.best_frame is not None:
                reference_frame = scan.best_frame
        motion = self.prepare_motion(photo.source, relative=relative, adapt_scale=adapt_scale,
                                     reference_frame=reference_frame, driving_box=driving_box, smoothing=smoothing,
                                     fps=driving.fps)
        return AnimationPlan(source=photo.source, composer=photo.composer, driving_box=driving_box, motion=motion)

    # Step 5 ------------------------------------------------------------------------------------
    def render(self, plan: AnimationPlan, frames: Iterable[torch.Tensor], batch_size: int) -> Iterator[torch.Tensor]:
        """Render driving frames (``[3, H, W]`` in ``[0, 1]``) in batches: yields ``[B, 3, h, w]`` float32 frames
        in ``[0, 1]`` on the model's device, ready for ``plan.composer``: at the model size, or with detail
        transfer at ``plan.composer.face_size`` (the source's detail added by ``plan.composer.add_detail``)."""
        batch: list[torch.Tensor] = []
        for frame in frames:
            if plan.driving_box is not None:
                frame = crop_driving_frame(frame, plan.driving_box)
            batch.append(resize_to(frame[None], self.sample_size)[0])
            if len(batch) == batch_size:
                yield self._render_batch(plan, batch)
                batch = []
        if batch:
            yield self._render_batch(plan, batch)

    def _render_batch(self, plan: AnimationPlan, crops: list[torch.Tensor]) -> torch.Tensor:
        return self._render_keypoints(plan, self._driving_keypoints(plan, crops))

    def _driving_keypoints(self, plan: AnimationPlan, crops: list[torch.Tensor]) -> Keypoints:
        """``[3, s, s]`` driving crops at the model size -> the keypoints to render them with."""
        return plan.motion(self._detect_driving(torch.stack(crops)))

    def _detect_driving(self, frames: torch.Tensor) -> Keypoints:
        """``[B, 3, s, s]`` driving frames in ``[0, 1]`` -> their keypoints (float32)."""
        with self._autocast():
            return self.animator.detect_keypoints(self.preprocess(frames))

    def _render_keypoints(self, plan: AnimationPlan, keypoints: Keypoints) -> torch.Tensor:
        with self._autocast():
            result = self.animator.render(plan.source, keypoints)
        frames = from_model_range(result.sample.float())
        if plan.composer.detail_source is None:
            return frames
        generated = result.generator_output
        occlusion = generated.occlusions[-1] if generated.occlusions else result.dense_motion.occlusion
        return plan.composer.add_detail(frames, generated.deformations[-1], occlusion)

    # Helpers -----------------------------------------------------------------------------------
    def _progress(self, total: int | None, desc: str):
        config = dict(getattr(self, "_progress_bar_config", None) or {})
        config.setdefault("desc", desc)
        config.setdefault("unit", "frame")
        return tqdm(total=total, **config)

    @contextlib.contextmanager
    def _inference(self) -> Iterator[None]:
        """Networks in eval mode (restored afterwards), no autograd, inference memory layout; frees offload hooks."""
        animator = self.animator
        modes = [(module, module.training) for module in animator.modules]
        for module, _ in modes:
            module.eval()
        if self._execution_device.type == "cpu":
            # Measured on CPUs: channels-last convolutions are markedly faster (docs/performance.md).
            animator.set_memory_format(torch.channels_last)
        try:
            with torch.inference_mode():
                yield
        finally:
            for module, training in modes:
                module.train(training)
            self.maybe_free_model_hooks()

    # Entry points ------------------------------------------------------------------------------
    @replace_example_docstring(EXAMPLE_DOC_STRING)
    def __call__(
        self,
        source_image: ImageInput,
        driving_video: DrivingVideoInput,
        *,
        relative: bool = True,
        adapt_scale: bool = True,
        reference_frame: ImageInput | None = None,
        find_best_frame: bool = False,
        crop: bool = True,
        smoothing: float = 0.0,
        batch_size: int = 4,
        output_size: int | None = None,
        output_type: Literal["pil", "np", "pt"] = "pil",
        return_dict: bool = True,
        detail_transfer: bool | None = None,
    ) -> TalkingHeadPipelineOutput | tuple:
        r"""Animate ``source_image`` with the motion of ``driving_video`` and return every frame.

        The whole result is held in memory; for long videos use :meth:`animate_to_file`, which streams.

        Args:
            source_image: the face to animate: a PIL image (any mode: grayscale, RGBA, 16-bit), a numpy
                array ``(H, W[, C])`` (uint8, uint16 or float in ``[0, 1]``), a tensor ``[C, H, W]`` in
                ``[0, 1]`` or an image path. Photos are turned upright by their EXIF orientation.
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
            crop: find the face in the source photo and in the driving video, animate square face crops
                (one fixed box per video) and paste the result back into the photo with a feathered
                edge (the default: any photo and video work). ``False`` for inputs that already are
                square face crops framed like the training data; they are resized to the model size.
            smoothing: temporal smoothing of the driving keypoints, 0 (off) to 1 (strongest); see
                :class:`~mcc_hf.motion.smoothing.KeypointSmoother`.
            batch_size: driving frames rendered per forward pass.
            output_size: height of the output frames. Default: with ``crop`` the photo's height, at most
                1080 (the width keeps the photo's aspect ratio); without, the model size.
            output_type: ``"pil"``, ``"np"`` or ``"pt"`` (see :class:`TalkingHeadPipelineOutput`).
            return_dict: return a :class:`TalkingHeadPipelineOutput` instead of a tuple.
            detail_transfer: take the detail (skin, hair, eyes) of the output-resolution source, warped by the
                model's final flow, wherever the source is visible and agrees with the model's rendering
                (:mod:`mcc_hf.detail_transfer`, ``docs/detail-transfer.md``). ``None`` (default): on exactly
                where the face lands in the output larger than the model size (a crop pasted back with a
                face box larger than the model, or ``output_size`` larger than it without ``crop``);
                ``True`` / ``False`` force it.

        Raises:
            InvalidInputError: an image or the video cannot be read, or holds no frame.
            NoFaceFoundError: ``crop`` or ``find_best_frame`` found no face where one is needed.

        Examples:
        """
        self.check_inputs(relative=relative, reference_frame=reference_frame, find_best_frame=find_best_frame,
                          smoothing=smoothing, batch_size=batch_size, output_size=output_size, output_type=output_type,
                          detail_transfer=detail_transfer)
        driving = DrivingVideo(driving_video, rereadable=crop or find_best_frame)
        outputs = []
        with self._inference():
            plan = self.plan_animation(source_image, driving, relative=relative, adapt_scale=adapt_scale,
                                       reference_frame=reference_frame, find_best_frame=find_best_frame, crop=crop,
                                       smoothing=smoothing, output_size=output_size, detail_transfer=detail_transfer)
            with self._progress(driving.num_frames, "animating") as progress:
                for frames in self.render(plan, driving, batch_size):
                    outputs.append(plan.composer(frames).cpu())
                    progress.update(len(frames))
            if not outputs:
                raise InvalidInputError("no driving frames were given")
            frames = postprocess(torch.cat(outputs), output_type)
        if not return_dict:
            return (frames,)
        return TalkingHeadPipelineOutput(frames=frames)

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
        detail_transfer: bool | None = None,
    ) -> AnimateToFileResult:
        r"""Animate ``source_image`` with a driving video file and write the result as a video file.

        Frames are decoded, animated and encoded batch by batch, so memory stays flat however long
        the video is (and, with ``crop``, however large the photo: only the face region is computed).
        The output has the driving video's fps and (with ``keep_audio``) its audio. The file appears
        only when complete: frames go to a hidden temporary file in the same folder, renamed to
        ``output_path`` at the end; on any error, ``Ctrl-C``, ``SIGTERM`` or ``SIGHUP`` nothing is left behind.

        Args:
            source_image: the face to animate (see :meth:`__call__`); with ``crop`` any photo with a face.
            driving_video: path of the driving video (any format FFmpeg reads).
            output_path: the video to write: ``.mp4``, ``.m4v``, ``.mov`` or ``.mkv`` (H.264). An existing
                file is replaced; the source or driving file itself is refused.
            relative, adapt_scale, find_best_frame, crop, smoothing, batch_size: see :meth:`__call__`.
            output_size: height of the output video (even sizes are needed for H.264: an odd last
                row or column is dropped). Default: see :meth:`__call__`.
            keep_audio: copy the driving video's audio (re-encoded where the container needs it).
            callback: called as ``callback(frames_done, total_frames_or_None)`` after each batch.
            detail_transfer: see :meth:`__call__` (per batch, so memory stays flat).

        Returns:
            :class:`AnimateToFileResult` describing the written file.
        """
        if not isinstance(driving_video, (str, os.PathLike)):
            raise InvalidInputError(
                f"animate_to_file needs the driving video as a file path, got {type(driving_video).__name__}; "
                "call the pipeline directly for frames in memory"
            )
        output_path = check_output_path(output_path, inputs=(source_image, driving_video))
        self.check_inputs(relative=relative, find_best_frame=find_best_frame, smoothing=smoothing,
                          batch_size=batch_size, output_size=output_size, detail_transfer=detail_transfer)
        driving = DrivingVideo(driving_video)
        with terminate_on_signals(), self._inference():
            plan = self.plan_animation(source_image, driving, relative=relative, adapt_scale=adapt_scale,
                                       reference_frame=None, find_best_frame=find_best_frame, crop=crop,
                                       smoothing=smoothing, output_size=output_size, detail_transfer=detail_transfer)
            check_frame_size(plan.composer.output_size[1], plan.composer.output_size[0])
            audio = driving.path if keep_audio else None
            with VideoWriter(output_path, driving.info.fps, audio_from=audio) as writer, \
                    self._progress(driving.num_frames, "animating") as progress:
                for frames in self.render(plan, driving, batch_size):
                    writer.write(plan.composer.to_uint8(frames))
                    progress.update(len(frames))
                    if callback is not None:
                        callback(writer.num_frames, driving.num_frames)
        return AnimateToFileResult(
            path=os.fspath(output_path), num_frames=writer.num_frames, fps=float(driving.info.fps),
            has_audio=writer.has_audio, width=writer.width, height=writer.height,
        )

    def stream(
        self,
        source_image: ImageInput,
        frames: Iterable[ImageInput],
        *,
        relative: bool = True,
        adapt_scale: bool = True,
        reference_frame: ImageInput | None = None,
        crop: bool = True,
        smoothing: float = 0.0,
        output_size: int | None = None,
        fps: float = DEFAULT_FPS,
        output_type: Literal["pil", "np", "pt"] = "pt",
        detail_transfer: bool | None = None,
    ) -> Iterator[torch.Tensor | np.ndarray | PIL.Image.Image]:
        r"""Animate driving frames as they arrive (e.g. from a camera): yields each animated frame as soon
        as it is rendered (batch 1, no look-ahead).

        Relative motion, adapt-scale, smoothing, crop and paste-back work as in :meth:`__call__`. The
        motion reference is ``reference_frame`` or else the first frame; with ``crop`` the driving face
        box is found on that first frame and kept (there is no look-ahead to scan the video). For a
        "recalibrate" button, use :meth:`live` and call ``set_reference()``. ``detail_transfer`` works as in
        :meth:`__call__`.

        Yields:
            One frame at a time: ``[3, H, W]`` float tensor in ``[0, 1]`` (``"pt"``), ``[H, W, 3]`` float
            array (``"np"``) or a PIL image (``"pil"``).
        """
        session = self.live(source_image, relative=relative, adapt_scale=adapt_scale, reference_frame=reference_frame,
                            crop=crop, smoothing=smoothing, output_size=output_size, fps=fps, output_type=output_type,
                            detail_transfer=detail_transfer)
        for frame in frames:
            yield session(frame)

    def live(self, source_image: ImageInput, *, relative: bool = True, adapt_scale: bool = True,
             reference_frame: ImageInput | None = None, crop: bool = True, smoothing: float = 0.0,
             output_size: int | None = None, fps: float = DEFAULT_FPS,
             output_type: Literal["pil", "np", "pt"] = "pt", detail_transfer: bool | None = None) -> "LiveAnimation":
        """A :class:`LiveAnimation`: call it with one driving frame at a time (see :meth:`stream`)."""
        self.check_inputs(relative=relative, reference_frame=reference_frame, smoothing=smoothing,
                          output_size=output_size, output_type=output_type, detail_transfer=detail_transfer)
        with self._inference():
            photo = self.prepare_source(source_image, crop=crop, output_size=output_size,
                                        detail_transfer=detail_transfer)
        smoother = KeypointSmoother(smoothing, fps=fps)
        motion = MotionTransfer(photo.source, relative=relative, adapt_scale=adapt_scale, smoother=smoother)
        session = LiveAnimation(self, AnimationPlan(photo.source, photo.composer, None, motion), crop=crop,
                                output_type=output_type)
        if reference_frame is not None:
            session.set_reference(reference_frame)
        return session


class LiveAnimation:
    """Animates one driving frame at a time on a prepared source (see :meth:`TalkingHeadPipeline.live`).

    With ``crop``, the driving face box is found on the first frame (or the reference frame) and kept
    until :meth:`set_reference` is called again.
    """

    def __init__(self, pipe: TalkingHeadPipeline, plan: AnimationPlan, *, crop: bool, output_type: str):
        self.pipe = pipe
        self.plan = plan
        self.crop = crop
        self.output_type = output_type
        self._cropper = FaceCropper() if crop else None
        #: Seconds the last frame spent in each stage: ``prepare`` (load, crop, resize), ``keypoints``
        #: (detection, smoothing, relative motion), ``render`` (dense motion, generator, detail transfer) and
        #: ``compose`` (resize or paste-back, output conversion). On a GPU the stages run asynchronously,
        #: so only their sum is meaningful there.
        self.timings: dict[str, float] = {}

    def set_reference(self, frame: ImageInput | None = None) -> None:
        """Measure the motion from ``frame`` from now on; ``None``: from the next frame (recalibrate).
        With ``crop`` the driving face box is found again on that frame."""
        self.plan.motion.set_reference(None)
        if self.crop:
            self.plan.driving_box = None
        if frame is not None:
            with self.pipe._inference():
                image = self._framed(load_image(frame))
                reference = self.pipe._detect_driving(image[None])
            self.plan.motion.set_reference(reference)

    def _framed(self, frame: torch.Tensor) -> torch.Tensor:
        if self.crop and self.plan.driving_box is None:
            face = self._cropper.detect(to_uint8(frame[None])[0])
            if face is None:
                raise NoFaceFoundError("no face found in the driving frame; face the camera, or use crop=False")
            self.plan.driving_box = face_crop_box([face], tuple(frame.shape[-2:]))
        return frame if self.plan.driving_box is None else crop_driving_frame(frame, self.plan.driving_box)

    def __call__(self, frame: ImageInput):
        """One driving frame -> one animated frame (see :meth:`TalkingHeadPipeline.stream` for the types)."""
        laps = [time.perf_counter()]
        with self.pipe._inference():
            image = resize_to(self._framed(load_image(frame))[None], self.pipe.sample_size)[0]
            laps.append(time.perf_counter())
            keypoints = self.pipe._driving_keypoints(self.plan, [image])
            laps.append(time.perf_counter())
            rendered = self.pipe._render_keypoints(self.plan, keypoints)
            laps.append(time.perf_counter())
            output = postprocess(self.plan.composer(rendered).cpu(), self.output_type)[0]
            laps.append(time.perf_counter())
        self.timings = {stage: b - a for stage, a, b in zip(("prepare", "keypoints", "render", "compose"), laps, laps[1:])}
        return output
