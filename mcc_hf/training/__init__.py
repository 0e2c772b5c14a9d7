# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Training of talking-head pipelines with accelerate (``train.py`` at the repository root).

Modules: :mod:`.config` (options), :mod:`.model` (the jointly trained networks), :mod:`.losses`,
:mod:`.vgg` (frozen VGG19 for the perceptual loss), :mod:`.discriminator` (PatchGAN),
:mod:`.equivariance` (random TPS), :mod:`.ema`, :mod:`.step` (one optimisation step),
:mod:`.checkpointing`, :mod:`.validation` and :mod:`.trainer` (the loop).
"""

from __future__ import annotations

__all__ = ["main", "parse_args", "train"]


def main(argv=None) -> None:
    from .trainer import main as _main

    _main(argv)


def train(args):
    from .trainer import train as _train

    return _train(args)


def parse_args(argv=None):
    from .config import parse_args as _parse_args

    return _parse_args(argv)
