# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Video files with PyAV: streaming decode, H.264 encode at the driving fps, audio copy, atomic write.

Frames are RGB ``uint8`` numpy arrays ``(H, W, 3)``. Nothing here holds more than one decoded
frame (or one batch handed to :meth:`VideoWriter.write`) in memory, so the cost of a video does
not grow with its length.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import PIL.Image
import torch

from .atomic import atomic_file
from .errors import InvalidInputError, OutputError
from .image_processing import load_image

__all__ = [
    "OUTPUT_CONTAINERS",
    "VIDEO_EXTENSIONS",
    "DrivingVideo",
    "VideoInfo",
    "VideoWriter",
    "check_frame_size",
    "check_output_path",
    "probe_video",
    "reaches_frame",
    "read_frames",
]

logger = logging.getLogger(__name__)

#: File extensions taken for videos when a folder is scanned (dataset, evaluation) or a file is uploaded (Space).
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".gif")
#: Containers :class:`VideoWriter` can write (H.264 video), by file extension.
OUTPUT_CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
_FALLBACK_FPS = Fraction(25)
#: Plain-language reasons for the file-system errors a write can meet.
_OS_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the file system is read-only",
}
#: Frame rate assumed (for smoothing) when driving frames come from memory, without one.
DEFAULT_FPS = 25.0


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` learns from a video file (its header and first frame).

    Args:
        path: the file.
        width, height: size of the frames as :func:`read_frames` yields them (upright).
        fps: the average frame rate.
        num_frames: the frame count the container declares, or ``None`` when it declares none.
        audio_codec: the codec of the first audio stream, or ``None`` without audio.
        rotation: degrees (0, 90, 180, 270) the stored frames are turned counter-clockwise to show
            them upright: phones store portrait videos as landscape frames plus a display matrix.
        audio_streams: how many audio streams the file has (only the first is used).
    """

    path: str
    width: int
    height: int
    fps: Fraction
    num_frames: int | None
    audio_codec: str | None
    rotation: int = 0
    audio_streams: int = 0

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None


def _open_input(path: str | os.PathLike):
    """Open a video file for reading, with errors that say what is wrong with it."""
    import av

    path = os.fspath(path)
    if not os.path.exists(path):
        raise InvalidInputError(f"video file not found: {path}")
    if not os.path.isfile(path):
        raise InvalidInputError(f"not a video file: {path} is a directory")
    try:
        container = av.open(path, mode="r")
    except av.error.EOFError as e:
        raise InvalidInputError(f"the video has no frames: {path} (it ends before its first frame)") from e
    except av.FFmpegError as e:
        raise InvalidInputError(f"not a readable video: {path} ({_ffmpeg_reason(e)})") from e
    problem = None
    if not container.streams:
        # A container written without a single frame keeps no stream at all.
        problem = f"the video has no frames: {path}"
    elif container.format.name == "image2" or container.format.name.endswith("_pipe"):
        # FFmpeg opens still images as one-frame "videos" through its image demuxers.
        problem = f"not a video: {path} is an image"
    elif not container.streams.video:
        problem = f"not a video: {path} has no video stream"
    if problem is not None:
        container.close()
        raise InvalidInputError(problem)
    return container


def _ffmpeg_reason(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error)


#: Frame rates above this are timestamp resolutions, not rates (a WebM without a declared rate says 1000).
_MAX_PLAUSIBLE_FPS = 240


def _video_fps(stream, times: list[float]) -> Fraction:
    """The average frame rate the container declares or, when it declares none (or an implausible one),
    the rate measured from the first frames' timestamps ``times`` (seconds)."""
    rate = stream.average_rate
    if rate and 0 < rate <= _MAX_PLAUSIBLE_FPS:
        return Fraction(rate)
    steps = np.diff(sorted(times))
    steps = steps[steps > 0]
    if len(steps):
        return Fraction(1 / float(np.median(steps))).limit_denominator(1001)
    rate = stream.guessed_rate or stream.base_rate
    if rate and 0 < rate <= _MAX_PLAUSIBLE_FPS:
        return Fraction(rate)
    logger.warning("the video declares no frame rate; assuming %s fps", _FALLBACK_FPS)
    return _FALLBACK_FPS


def _rotation(frame, stream) -> int:
    """Counter-clockwise degrees that make ``frame`` upright: its display matrix, else the stream's
    legacy ``rotate`` tag (which counts clockwise)."""
    degrees = frame.rotation
    if not degrees:
        tags = {key.lower(): value for key, value in stream.metadata.items()}
        try:
            degrees = -float(tags.get("rotate", 0))
        except ValueError:
            degrees = 0
    return int(round(degrees / 90)) * 90 % 360


def _upright(frame, rotation: int) -> np.ndarray:
    array = frame.to_ndarray(format="rgb24")
    return np.ascontiguousarray(np.rot90(array, rotation // 90)) if rotation else array


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read a video file's size (upright), frame rate, frame count, rotation and audio codec.

    The first frame is decoded to read the rotation phones store as frame side data.

    Raises:
        InvalidInputError: the file is missing, is not a video, or cannot be parsed.
    """
    import av

    container = _open_input(path)
    try:
        stream = container.streams.video[0]
        audio = container.streams.audio
        width, height = stream.codec_context.width, stream.codec_context.height
        declared = stream.average_rate and 0 < stream.average_rate <= _MAX_PLAUSIBLE_FPS
        try:
            # The first frame (for the rotation) or, without a declared rate, the first dozen (to measure it).
            first_frames = list(itertools.islice(container.decode(stream), 1 if declared else 12))
        except av.FFmpegError as e:
            raise InvalidInputError(f"corrupt video data in {os.fspath(path)} ({_ffmpeg_reason(e)})") from e
        if not first_frames:
            raise InvalidInputError(f"the video has no frames: {os.fspath(path)}")
        first = first_frames[0]
        rotation = _rotation(first, stream)
        if rotation in (90, 270):
            width, height = height, width
        return VideoInfo(
            path=os.fspath(path),
            width=width,
            height=height,
            fps=_video_fps(stream, [f.time for f in first_frames if f.time is not None]),
            num_frames=stream.frames or None,
            audio_codec=audio[0].codec_context.name if audio else None,
            rotation=rotation,
            audio_streams=len(audio),
        )
    finally:
        container.close()


def read_frames(path: str | os.PathLike, *, constant_rate: Fraction | float | None = None) -> Iterator[np.ndarray]:
    """Decode a video file frame by frame as upright RGB ``uint8`` arrays ``(H, W, 3)``.

    Args:
        constant_rate: yield the frames on a constant-rate grid of this many frames per second (the
            frame shown at each grid time): frames of a variable-rate video are repeated or dropped so
            that frame ``n`` belongs at ``n / constant_rate`` seconds, which keeps a re-encoded video in
            sync with the original's audio. A constant-rate video at this rate comes out unchanged.

    Raises:
        InvalidInputError: the file is missing or not a video, its data is corrupt, or it holds no frame.
    """
    import av

    container = _open_input(path)
    count = 0
    rate = Fraction(constant_rate).limit_denominator(1001 * 1000) if constant_rate else None
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        start, slot, previous = None, -1, None  # constant-rate grid: first time, last filled slot, its frame
        try:
            for frame in container.decode(stream):
                array = _upright(frame, _rotation(frame, stream))
                if rate is None:
                    count += 1
                    yield array
                    continue
                time = frame.time if frame.time is not None else float((slot + 1) / rate)
                start = time if start is None else start
                target = round((time - start) * rate)
                if target > slot:
                    for _ in range(slot + 1, target):  # a gap in the timeline: repeat the last frame
                        count += 1
                        yield previous
                    count += 1
                    yield array
                    slot = target
                previous = array  # a frame in an already filled slot is dropped
        except av.FFmpegError as e:
            raise InvalidInputError(f"corrupt video data in {os.fspath(path)} after {count} frames ({_ffmpeg_reason(e)})") from e
    finally:
        container.close()
    if count == 0:
        raise InvalidInputError(f"the video has no frames: {os.fspath(path)}")


def reaches_frame(path: str | os.PathLike, index: int, fps: Fraction) -> bool:
    """Seek to the keyframe before frame ``index`` (found by its timestamp at ``fps``), decode that keyframe,
    and read the packets (without decoding them) up to frame ``index``.

    A fast check that a file is not cut short: a whole GOP is never decoded (talking-head clips often have a
    single keyframe, where decoding the late frame itself would decode most of the clip). It returns
    ``False`` whenever it cannot tell (the container cannot seek, the seek lands on no keyframe, a decode
    error, no packet at that time); decode from the start (:func:`read_frames`) to be sure.
    """
    import av

    try:
        with av.open(os.fspath(path)) as container:
            stream = container.streams.video[0]
            start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
            target = start + (index - 0.5) / float(fps)  # half a frame early: timestamps are rounded
            container.seek(int(target / stream.time_base), stream=stream, backward=True, any_frame=False)
            keyframe_decoded = False
            for packet in container.demux(stream):
                if packet.pts is None:  # the empty packet that ends the stream
                    continue
                if not keyframe_decoded:
                    if not packet.is_keyframe:
                        return False
                    keyframe_decoded = bool(stream.codec_context.decode(packet) + stream.codec_context.decode(None))
                    if not keyframe_decoded:
                        return False
                if float(packet.pts * stream.time_base) >= target:
                    return True
    except av.FFmpegError:
        pass
    return False


def check_output_path(path: str | os.PathLike, *, inputs: Sequence[str | os.PathLike] = ()) -> str:
    """Check that a video can be written at ``path``; returns it as a string.

    The extension must be one :class:`VideoWriter` writes, the folder must exist and be writable, and
    ``path`` must not be one of ``inputs`` (the files the video is made from: writing the output
    would destroy them).
    """
    path = os.fspath(path)
    extension = os.path.splitext(path)[1].lower()
    if extension not in OUTPUT_CONTAINERS:
        raise InvalidInputError(
            f"unsupported output file type {extension or '(none)'!r} for {path}; use one of {', '.join(OUTPUT_CONTAINERS)}"
        )
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InvalidInputError(f"output folder does not exist: {folder}")
    if os.path.isdir(path):
        raise InvalidInputError(f"output path is a directory: {path}")
    for source in inputs:
        if isinstance(source, (str, os.PathLike)) and _same_file(path, source):
            raise InvalidInputError(f"the output {path} is the input file {os.fspath(source)}; choose another output path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InvalidInputError(f"cannot write to the output folder {folder} (permission denied)")
    return path


def _same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return os.path.realpath(a) == os.path.realpath(b)


#: Largest frame H.264 encodes (level 6.2: 139,264 macroblocks of 16x16 pixels; libx264 also caps a side).
H264_MAX_MACROBLOCKS = 139_264
H264_MAX_SIDE = 16_384


def check_frame_size(width: int, height: int) -> None:
    """Refuse a frame size beyond every H.264 level, with a message that says how to get a smaller one."""
    macroblocks = -(-width // 16) * -(-height // 16)
    if macroblocks > H264_MAX_MACROBLOCKS or max(width, height) > H264_MAX_SIDE:
        raise InvalidInputError(
            f"an output of {width}x{height} pixels is larger than H.264 can encode (at most about 35 megapixels, "
            f"{H264_MAX_SIDE} pixels a side); choose a smaller output size (--output-size / output_size)"
        )


#: Audio codecs each output container takes as they are; other audio is re-encoded to AAC.
_COPYABLE_AUDIO = {
    "mp4": {"aac", "mp3", "alac", "ac3", "eac3"},
    "mov": {"aac", "mp3", "alac", "ac3"},
    "matroska": {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac", "vorbis"},
}
#: Input containers whose audio packets carry reliable timestamps (AVI, FLV, ... are re-encoded).
_COPY_FROM = {"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"}


class _AudioTrack:
    """Moves the first audio stream of a source file into an output container, interleaved with the video.

    Packets are copied when the output container takes the codec and the source container carries
    reliable timestamps; otherwise the audio is decoded, resampled and re-encoded to AAC with
    timestamps counted in samples. Either way the audio keeps its offset to the first video frame
    (audio before the first video frame is dropped) and timestamps are rescaled to the output stream.
    """

    def __init__(self, source: str, output, container_name: str):
        import av

        self._input = av.open(source, mode="r")
        streams = self._input.streams
        if len(streams.audio) > 1:
            logger.info("the driving video has %d audio streams; copying the first, dropping the others", len(streams.audio))
        audio, video = streams.audio[0], streams.video[0]
        self._video_start = float(video.start_time * video.time_base) if video.start_time is not None else 0.0
        self.codec = audio.codec_context.codec.canonical_name  # "mp3", not the decoder "mp3float"
        self.transcode = not (self.codec in _COPYABLE_AUDIO[container_name] and self._input.format.name in _COPY_FROM)
        self._output = output
        if self.transcode:
            rate = audio.codec_context.sample_rate or 48000
            layout = "mono" if audio.codec_context.layout.nb_channels == 1 else "stereo"
            self._out = output.add_stream("aac", rate=rate, layout=layout)
            self._resampler = av.AudioResampler(format=self._out.codec_context.format, layout=layout, rate=rate)
            self._rate = rate
            self._next_sample: int | None = None
            self._source = self._input.decode(audio)
        else:
            self._out = output.add_stream_from_template(audio)
            self._offset = int(round(self._video_start / audio.time_base)) if audio.time_base else 0
            self._last_dts: int | None = None
            self._source = self._input.demux(audio)
        self._pending = None
        self._done = False

    def _next(self):
        """The next decoded frame (transcode) or packet (copy) with a timestamp, or ``None`` at the end."""
        for item in self._source:
            if item.pts is not None and (self.transcode or item.dts is not None):
                return item
        return None

    def mux_until(self, seconds: float | None) -> None:
        """Write the audio up to ``seconds`` of output time (``None``: all of it)."""
        while not self._done:
            item = self._pending or self._next()
            self._pending = None
            if item is None:
                self._done = True
                if self.transcode:
                    self._encode(None)
                break
            time = float(item.pts * item.time_base) - self._video_start
            if seconds is not None and time > seconds:
                self._pending = item
                break
            if self.transcode:
                self._transcode(item, time)
            else:
                self._copy(item, time)

    def _copy(self, packet, time: float) -> None:
        if time < 0:
            return
        packet.pts -= self._offset
        packet.dts -= self._offset
        if self._last_dts is not None and packet.dts <= self._last_dts:
            return  # a muxer refuses non-increasing timestamps; such packets are duplicates
        self._last_dts = packet.dts
        packet.stream = self._out
        self._output.mux(packet)

    def _transcode(self, frame, time: float) -> None:
        end = time + frame.samples / (frame.sample_rate or self._rate)
        if end <= 0:
            return
        if self._next_sample is None:
            self._next_sample = max(0, round(time * self._rate))
        frame.pts = None  # the resampler's output is timed below, in samples
        self._encode(frame)

    def _encode(self, frame) -> None:
        for resampled in self._resampler.resample(frame):
            resampled.pts = self._next_sample or 0
            resampled.time_base = Fraction(1, self._rate)
            self._next_sample = (self._next_sample or 0) + resampled.samples
            self._output.mux(self._out.encode(resampled))
        if frame is None:
            self._output.mux(self._out.encode(None))

    def close(self) -> None:
        self._input.close()


class _Discarded(Exception):
    """Passed to the temporary file's context to discard it (:meth:`VideoWriter.abort`)."""


class VideoWriter:
    """Encode RGB frames to an H.264 file, atomically: frames go to a hidden temporary file next to
    ``path``, which replaces ``path`` only when :meth:`close` succeeds; on an error (or :meth:`abort`) the
    temporary file is deleted and ``path`` is left untouched.

    Args:
        path: the output file; ``.mp4``, ``.m4v``, ``.mov`` or ``.mkv``.
        fps: frames per second of the output.
        audio_from: a video file whose first audio track is copied into the output (no-op without audio).
        crf: x264 constant rate factor (lower is better quality; 18 is visually near-lossless).
        preset: x264 speed preset.

    Frames with an odd width or height lose their last column or row (4:2:0 chroma needs even sizes).
    Use as a context manager, or call :meth:`close` / :meth:`abort` yourself.
    """

    def __init__(self, path: str | os.PathLike, fps: float | Fraction, *, audio_from: str | os.PathLike | None = None,
                 crf: int = 18, preset: str = "medium"):
        import av

        self.path = check_output_path(path)
        extension = os.path.splitext(self.path)[1].lower()
        self.fps = Fraction(fps).limit_denominator(1001 * 1000)
        if self.fps <= 0:
            raise InvalidInputError(f"fps must be positive, got {fps}")
        self._container_name = OUTPUT_CONTAINERS[extension]
        self._file = contextlib.ExitStack()
        self._temp_path = self._file.enter_context(atomic_file(self.path))
        try:
            self._output = av.open(self._temp_path, mode="w", format=self._container_name)
        except BaseException as e:
            self._file.__exit__(type(e), e, e.__traceback__)
            raise
        self._crf, self._preset = crf, preset
        self._stream = None
        self._audio: _AudioTrack | None = None
        self._audio_from = os.fspath(audio_from) if audio_from is not None else None
        self.num_frames = 0
        self.width = self.height = 0
        self._closed = False

    @property
    def has_audio(self) -> bool:
        return self._audio is not None

    def _start(self, height: int, width: int) -> None:
        self.width, self.height = width - width % 2, height - height % 2
        if self.width < 2 or self.height < 2:
            raise InvalidInputError(f"frames of {width}x{height} pixels are too small to encode")
        check_frame_size(self.width, self.height)
        stream = self._output.add_stream("libx264", rate=self.fps)
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, "yuv420p"
        stream.options = {"crf": str(self._crf), "preset": self._preset}
        self._stream = stream
        if self._audio_from is not None and probe_video(self._audio_from).has_audio:
            with self._errors("audio"):
                self._audio = _AudioTrack(self._audio_from, self._output, self._container_name)
            if self._audio.transcode:
                logger.info("re-encoding the driving audio (%s) to AAC for %s", self._audio.codec, self.path)

    def write(self, frames: np.ndarray) -> None:
        """Append frames: RGB ``uint8`` ``(H, W, 3)`` or a batch ``(B, H, W, 3)`` of one size."""
        import av

        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"expected uint8 frames (B, H, W, 3), got {frames.dtype} {frames.shape}")
        if self._stream is None:
            self._start(frames.shape[1], frames.shape[2])
        for array in frames:
            array = np.ascontiguousarray(array[: self.height, : self.width])
            if array.shape[:2] != (self.height, self.width):
                raise ValueError(f"frame size {array.shape[1]}x{array.shape[0]} differs from {self.width}x{self.height}")
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts = self.num_frames
            frame.time_base = 1 / self.fps
            with self._errors("video"):
                self._output.mux(self._stream.encode(frame))
            self.num_frames += 1
        if self._audio is not None:
            with self._errors("audio"):
                self._audio.mux_until(float(self.num_frames / self.fps))

    def close(self) -> str:
        """Finish the file and move it to ``path``; returns ``path``."""
        if self._closed:
            return self.path
        if self._stream is None:
            self.abort()
            raise InvalidInputError("no frames were written")
        try:
            with self._errors("video"):
                self._output.mux(self._stream.encode(None))
            if self._audio is not None:
                with self._errors("audio"):
                    self._audio.mux_until(None)
            with self._errors("video"):
                self._release()
        except BaseException:
            self.abort()
            raise
        self._closed = True
        self._file.close()  # moves the finished file onto ``path``
        return self.path

    @contextlib.contextmanager
    def _errors(self, part: str) -> Iterator[None]:
        """Turn FFmpeg and file-system errors while writing into an :class:`OutputError` for the user."""
        import av

        try:
            yield
        except (av.FFmpegError, OSError) as e:
            reason = _OS_REASONS.get(getattr(e, "errno", None)) or _ffmpeg_reason(e)
            if part == "audio":
                message = (f"could not copy the driving video's audio into {self.path} ({reason}); "
                           "write the video without sound with keep_audio=False / --no-audio")
            else:
                message = f"could not write the video {self.path} ({reason})"
            raise OutputError(message) from e

    def abort(self) -> None:
        """Discard everything written so far; ``path`` is not touched."""
        if self._closed:
            return
        self._closed = True
        try:
            self._release()
        except Exception as e:  # the file is being discarded; keep the original error visible
            logger.debug("ignoring an error while discarding %s: %s", self._temp_path, e)
        finally:
            discarded = _Discarded()
            self._file.__exit__(_Discarded, discarded, None)  # removes the temporary file

    def _release(self) -> None:
        try:
            self._output.close()
        finally:
            if self._audio is not None:
                self._audio.close()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class DrivingVideo:
    """A driving video as the pipeline reads it: ``[3, H, W]`` float32 frames in ``[0, 1]``, in order.

    Args:
        video: a video file path (decoded frame by frame), a ``[T, 3, H, W]`` (or ``[T, 1, H, W]``)
            tensor in ``[0, 1]``, a ``[T, H, W, 3]`` (or ``[T, H, W]``) array, or a sequence or
            iterator of images (PIL, numpy, torch or paths).
        rereadable: the video will be iterated more than once (a face scan before rendering):
            a one-shot iterator is then buffered in memory. Files and sequences are simply read again.
        fps: the frame rate for frames from memory (a file's own rate is used for files).

    Raises:
        InvalidInputError: the file cannot be read, or the frames are not a video (a single image is refused
            with a hint on how to pass one frame).
    """

    def __init__(self, video, *, rereadable: bool = False, fps: float = DEFAULT_FPS):
        self.info: VideoInfo | None = None
        self._frames = None
        self._fps = float(fps)
        if isinstance(video, (str, os.PathLike)):
            self.info = probe_video(video)
        elif isinstance(video, (torch.Tensor, np.ndarray)):
            self._frames = _check_frame_array(video)
        elif isinstance(video, Sequence) and not isinstance(video, (str, bytes)):
            self._frames = video
        elif isinstance(video, Iterable) and not _is_image(video):
            self._frames = list(video) if rereadable else video
        else:
            raise InvalidInputError(
                "the driving video must be a video file path, a sequence or iterator of images, a [T, 3, H, W] "
                f"tensor or a [T, H, W, 3] array; got {type(video).__name__}"
                + (" (for a single frame pass [image])" if _is_image(video) else "")
            )

    @property
    def path(self) -> str | None:
        return self.info.path if self.info is not None else None

    @property
    def fps(self) -> float:
        return float(self.info.fps) if self.info is not None else self._fps

    @property
    def num_frames(self) -> int | None:
        """Frames in the video, when known before reading it."""
        if self.info is not None:
            return self.info.num_frames
        return len(self._frames) if hasattr(self._frames, "__len__") else None

    def __iter__(self) -> Iterator:
        if self.info is not None:
            # On the file's average-rate grid, so that variable-rate videos stay in sync with their audio.
            return (load_image(frame) for frame in read_frames(self.info.path, constant_rate=self.info.fps))
        return (load_image(frame) for frame in self._frames)


def _is_image(value) -> bool:
    return isinstance(value, (PIL.Image.Image, bytes))


def _check_frame_array(frames: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """A ``[T, C, H, W]`` tensor or ``[T, H, W, C]`` array (``C`` 1 or 3); a single image is refused with a hint."""
    tensor = isinstance(frames, torch.Tensor)
    shape = list(frames.shape)
    channels = shape[1] if tensor and len(shape) == 4 else shape[-1]
    if len(shape) == 4 and channels in (1, 3):
        return frames
    kind, expected = ("tensor", "[T, 3, H, W]") if tensor else ("array", "[T, H, W, 3]")
    single = len(shape) == 2 or (len(shape) == 3 and (shape[0] if tensor else shape[-1]) in (1, 3, 4))
    if single:
        raise InvalidInputError(
            f"the driving video is a single image ({kind} of shape {shape}); driving frames must be a {expected} "
            f"{kind}: pass frame[None] or [frame] for a one-frame video"
        )
    raise InvalidInputError(f"driving frames must be a {expected} {kind}, got shape {shape}")
