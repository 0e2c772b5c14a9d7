# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Regenerate the example media shipped with the Space (``spaces_demo/examples/``).

Everything is derived from scikit-image's ``astronaut`` test image (Eileen Collins, NASA; public
domain, "no known copyright restrictions"), so the examples can be redistributed:

* ``astronaut.jpg``: the full 512 x 512 portrait (a source for crop and paste-back),
* ``astronaut-face.jpg``: a 256 x 256 face crop (a pre-cropped source),
* ``astronaut-nod.mp4``: a 3 s, 10 fps, 256 x 256 driving clip rendered by warping the mirrored
  face (head nod and turn, mouth opening) with a short synthesised melody as its audio track.

Run ``pip install scikit-image scipy`` once, then ``python spaces_demo/make_examples.py``. The output
is deterministic for a given scikit-image / FFmpeg build.
"""

from __future__ import annotations

import argparse
import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import PIL.Image
from scipy import ndimage

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
#: Face crop in the 512 x 512 astronaut image: (left, top, side), about twice dlib's face box.
FACE_BOX = (130, 25, 180)
SIZE = 256
FPS = 10
NUM_FRAMES = 30
SAMPLE_RATE = 16000


def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def crop_face(image: np.ndarray) -> np.ndarray:
    left, top, side = FACE_BOX
    face = PIL.Image.fromarray(image[top : top + side, left : left + side])
    return np.asarray(face.resize((SIZE, SIZE), PIL.Image.Resampling.LANCZOS))


def warp_frame(image: np.ndarray, t: float) -> np.ndarray:
    """Warp the full ``(H, W, 3)`` uint8 ``image`` for time ``t`` in ``[0, 1]`` and return the face crop.

    The head turns (rotation about the chin), nods (vertical shift), leans (horizontal shift) and opens
    its mouth (a local vertical stretch below the upper lip) along smooth periodic curves.
    """
    height, width = image.shape[:2]
    left, top, side = FACE_BOX
    angle = math.radians(7.0 * math.sin(2 * math.pi * t))
    shift_y = 6.0 * math.sin(4 * math.pi * t)
    shift_x = 5.0 * math.sin(2 * math.pi * t + 1.0)
    mouth_open = max(0.0, math.sin(6 * math.pi * t)) * 6.0

    # Output pixel -> input pixel (inverse mapping), in full-image coordinates.
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    pivot_x, pivot_y = left + side / 2, top + side * 0.8
    dx, dy = xs - pivot_x - shift_x, ys - pivot_y - shift_y
    src_x = pivot_x + math.cos(angle) * dx + math.sin(angle) * dy
    src_y = pivot_y - math.sin(angle) * dx + math.cos(angle) * dy

    mouth_x, mouth_y = 220.0, 140.0
    weight = np.exp(-(((src_x - mouth_x) / 22.0) ** 2 + ((src_y - mouth_y - 8.0) / 14.0) ** 2))
    src_y = src_y - mouth_open * weight * np.clip((src_y - mouth_y) / 10.0, -1.0, 1.0)

    warped = np.stack(
        [ndimage.map_coordinates(image[..., c], [src_y, src_x], order=1, mode="nearest") for c in range(3)],
        axis=-1,
    )
    return crop_face(warped)


def melody(duration: float) -> np.ndarray:
    """A quiet five-note melody, mono float32 in ``[-1, 1]``, ``duration`` seconds at ``SAMPLE_RATE``."""
    notes = [392.0, 440.0, 494.0, 440.0, 392.0]
    samples = np.arange(int(duration * SAMPLE_RATE)) / SAMPLE_RATE
    note = np.minimum((samples / duration * len(notes)).astype(int), len(notes) - 1)
    phase = samples * np.asarray(notes)[note]
    envelope = np.minimum(1.0, 20 * (samples * len(notes) / duration % 1.0)) * 0.25
    return (np.sin(2 * np.pi * phase) * envelope).astype(np.float32)


def write_clip(frames: list[np.ndarray], audio: np.ndarray, path: Path) -> None:
    """Encode RGB uint8 ``frames`` as H.264 (yuv420p) with ``audio`` as AAC into ``path``."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = SIZE, SIZE, "yuv420p"
        video.options = {"crf": "28", "preset": "slow"}
        sound = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        sound.bit_rate = 32000
        for frame in frames:
            container.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(video.encode())
        chunk = 1024
        for start in range(0, len(audio), chunk):
            piece = av.AudioFrame.from_ndarray(audio[None, start : start + chunk], format="flt", layout="mono")
            piece.sample_rate = SAMPLE_RATE
            piece.pts = start
            piece.time_base = Fraction(1, SAMPLE_RATE)
            container.mux(sound.encode(piece))
        container.mux(sound.encode())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=EXAMPLES_DIR, help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    image = astronaut()
    PIL.Image.fromarray(image).save(args.out / "astronaut.jpg", quality=85)
    PIL.Image.fromarray(crop_face(image)).save(args.out / "astronaut-face.jpg", quality=90)

    # The driving face is the mirrored portrait, so its pose differs from the source's.
    frames = [np.ascontiguousarray(warp_frame(image, i / NUM_FRAMES)[:, ::-1]) for i in range(NUM_FRAMES)]
    write_clip(frames, melody(NUM_FRAMES / FPS), args.out / "astronaut-nod.mp4")
    for name in ("astronaut.jpg", "astronaut-face.jpg", "astronaut-nod.mp4"):
        print(f"{args.out / name}: {(args.out / name).stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
