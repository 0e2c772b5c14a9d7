# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Offline evaluation of talking-head models: the paper's metrics (L1, PSNR, SSIM, AKD, AED/CSIM;
LPIPS and FID from user-supplied weights), baselines on the same frames, and reports.

Modules: :mod:`.metrics` (metric functions), :mod:`.faces` (dlib landmarks / embeddings per frame),
:mod:`.perceptual` (LPIPS-VGG, FID), :mod:`.clips` (test clips), :mod:`.contenders` (model and
baselines), :mod:`.runner` (:func:`~.runner.evaluate`), :mod:`.report` (metrics.json, report.md,
chart, strips). The command is ``mcc-hf evaluate`` (:mod:`mcc_hf.cli.evaluate`).
"""
