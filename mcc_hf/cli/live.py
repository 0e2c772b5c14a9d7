# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""``mcc-hf live``: animate a face photo frame by frame from a camera or a video, as the frames arrive."""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Iterator

import numpy as np

from .animate import add_speed_options, apply_speed_options

logger = logging.getLogger(__name__)

EPILOG = """\
examples:
  mcc-hf live --source me.jpg --driving talk.mp4 --output live.mp4     # a file stands in for the camera
  mcc-hf live --source me.jpg --camera 0 --show                          # needs: pip install opencv-python
  mcc-hf live --source me.jpg --camera 0 --virtual-camera                # needs: pip install opencv-python pyvirtualcam

Each frame is animated as soon as it arrives (no look-ahead); the motion is measured from the
first frame, so start facing the camera with a neutral expression (in the --show window, press R
to recalibrate on the current frame, Q or Esc to quit). The default install needs neither OpenCV
nor pyvirtualcam: with --driving and --output it runs on PyAV alone.
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "live",
        help="animate a face photo live from a camera (or a video), frame by frame",
        description="Animate the face in --source with the motion of a camera or of a video, one frame at a time, "
                    "and show the result, write it to a file or send it to a virtual camera.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--source", required=True, metavar="IMAGE", help="photo of the face to animate")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--camera", type=int, metavar="N", help="camera index to read (needs opencv-python)")
    where.add_argument("--driving", metavar="VIDEO", help="a video file read frame by frame, as a camera would deliver it")
    parser.add_argument("--output", metavar="OUT.mp4", help="also write the animated frames to this video file")
    parser.add_argument("--show", action="store_true", help="show the animated frames in a window (needs opencv-python)")
    parser.add_argument("--virtual-camera", action="store_true",
                        help="send the animated frames to a virtual webcam other programs can use (needs pyvirtualcam)")
    parser.add_argument("--model", default=None, metavar="ID_OR_DIR",
                        help="pipeline folder or Hugging Face Hub id (default: the model bundled with mcc-hf)")
    parser.add_argument("--crop", action=argparse.BooleanOptionalAction, default=True,
                        help="find the faces, animate the crop and paste it back into the photo")
    parser.add_argument("--smoothing", type=float, default=0.3, metavar="S",
                        help="smooth the driving motion against camera jitter, 0 (off) to 1 (strongest)")
    parser.add_argument("--output-size", type=int, default=None, metavar="H",
                        help="height of the animated frames (default: the photo's height up to 1080 with --crop)")
    parser.add_argument("--detail-transfer", action=argparse.BooleanOptionalAction, default=None,
                        help="detail from the full-resolution photo (default: automatic, as in mcc-hf animate)")
    parser.add_argument("--fps", type=float, default=25.0, help="frame rate of a camera (and of --output for one)")
    parser.add_argument("--max-frames", type=int, default=None, metavar="N", help="stop after N frames")
    parser.add_argument("--device", default="cpu", metavar="DEVICE", help="cpu, cuda or cuda:N")
    add_speed_options(parser)
    parser.set_defaults(func=run)


def _camera_frames(index: int) -> Iterator[np.ndarray]:
    """RGB frames from an OpenCV camera until it stops delivering."""
    from ..errors import UserInputError

    try:
        import cv2
    except ImportError as e:
        raise UserInputError("--camera needs OpenCV: pip install opencv-python (or use --driving VIDEO)") from e
    capture = cv2.VideoCapture(index)
    if not capture.isOpened():
        raise UserInputError(f"camera {index} cannot be opened (is it connected and free?)")
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield frame[:, :, ::-1].copy()  # BGR -> RGB
    finally:
        capture.release()


class _Window:
    """An OpenCV window showing the animated frames; R recalibrates, Q or Esc quits."""

    def __init__(self):
        from ..errors import UserInputError

        try:
            import cv2
        except ImportError as e:
            raise UserInputError("--show needs OpenCV: pip install opencv-python") from e
        self._cv2 = cv2

    def show(self, frame: np.ndarray) -> str | None:
        self._cv2.imshow("mcc-hf live", frame[:, :, ::-1])
        key = self._cv2.waitKey(1) & 0xFF
        return {ord("r"): "recalibrate", ord("q"): "quit", 27: "quit"}.get(key)

    def close(self) -> None:
        self._cv2.destroyAllWindows()


def _virtual_camera(width: int, height: int, fps: float):
    from ..errors import UserInputError

    try:
        import pyvirtualcam
    except ImportError as e:
        raise UserInputError("--virtual-camera needs pyvirtualcam: pip install pyvirtualcam") from e
    return pyvirtualcam.Camera(width=width, height=height, fps=fps)


class _Outputs:
    """Where the animated frames go: a video file (written atomically), a window and/or a virtual camera."""

    def __init__(self, args: argparse.Namespace, fps: float):
        from ..video import VideoWriter

        self.fps = fps
        self.window = _Window() if args.show else None
        self.writer = VideoWriter(args.output, fps) if args.output else None
        self.virtual_camera = args.virtual_camera
        self.camera = None

    def send(self, frame: np.ndarray) -> str | None:
        """Deliver one RGB ``uint8`` frame; returns the window's action (``"quit"``, ``"recalibrate"``) if any."""
        if self.writer is not None:
            self.writer.write(frame)
        if self.virtual_camera:
            self.camera = self.camera or _virtual_camera(frame.shape[1], frame.shape[0], self.fps)
            self.camera.send(frame)
        return self.window.show(frame) if self.window is not None else None

    def close(self, completed: bool) -> None:
        """Finish the video file (or discard it when the run did not complete) and close the rest."""
        try:
            if self.writer is not None:
                self.writer.close() if completed else self.writer.abort()
        finally:
            if self.window is not None:
                self.window.close()
            if self.camera is not None:
                self.camera.close()


def _driving(args: argparse.Namespace) -> tuple[Iterator[np.ndarray], float]:
    """The driving frames (a file read frame by frame, or the camera) and their frame rate."""
    from ..video import probe_video, read_frames

    if args.driving:
        return read_frames(args.driving), float(probe_video(args.driving).fps)
    return _camera_frames(args.camera), args.fps


def run(args: argparse.Namespace) -> int:
    from ..cli.animate import _device
    from ..errors import UserInputError
    from ..image_processing import image_size
    from ..loading import load_pipeline
    from ..pipelines.pipeline_talking_head import TalkingHeadPipeline
    from ..video import check_output_path

    TalkingHeadPipeline.check_inputs(smoothing=args.smoothing, output_size=args.output_size)
    if not (args.output or args.show or args.virtual_camera):
        raise UserInputError("say where the frames go: --output FILE, --show and/or --virtual-camera")
    image_size(args.source)
    frames, fps = _driving(args)
    if args.output:
        check_output_path(args.output, inputs=(args.source, args.driving))
    pipe = load_pipeline(args.model, device=_device(args.device))
    apply_speed_options(pipe, args)
    session = pipe.live(args.source, crop=args.crop, smoothing=args.smoothing, output_size=args.output_size,
                        detail_transfer=args.detail_transfer,
                        fps=fps, output_type="np")

    outputs = _Outputs(args, fps)
    latencies, stages = [], {}
    started, completed = time.perf_counter(), False
    try:
        try:
            for index, frame in enumerate(frames):
                if args.max_frames is not None and index >= args.max_frames:
                    break
                begin = time.perf_counter()
                output = (session(frame) * 255).round().astype(np.uint8)
                latencies.append(time.perf_counter() - begin)
                for stage, seconds in session.timings.items():
                    stages.setdefault(stage, []).append(seconds)
                action = outputs.send(output)
                if action == "quit":
                    break
                if action == "recalibrate":
                    session.set_reference(None)
        except KeyboardInterrupt:
            if args.driving:
                raise  # a file run stopped early leaves no partial output
            logger.info("stopped by Ctrl-C")  # how a camera session ends: keep what was recorded
        completed = bool(latencies)
    finally:
        outputs.close(completed)
    if not latencies:
        raise UserInputError("no frames arrived")
    print(_summary(latencies, stages, time.perf_counter() - started) + (f"; wrote {args.output}" if args.output else ""))
    return 0


def _summary(latencies: list[float], stages: dict[str, list[float]], elapsed: float) -> str:
    breakdown = ", ".join(f"{stage} {1000 * statistics.median(values):.1f}" for stage, values in stages.items())
    return (f"{len(latencies)} frames in {elapsed:.1f} s ({len(latencies) / elapsed:.1f} fps); latency per frame: "
            f"median {1000 * statistics.median(latencies):.1f} ms ({breakdown} ms)")
