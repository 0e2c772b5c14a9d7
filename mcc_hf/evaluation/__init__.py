# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Offline evaluation of talking-head models: the paper's metrics (L1, PSNR, SSIM, AKD, AED/CSIM;
LPIPS, FID and the DINOv2 metrics FD_DINO / DINO_SIM from user-supplied weights), baselines on the
same frames, and reports.

Modules: :mod:`.results` (settings, result types, the metric table), :mod:`.runner`
(:func:`~.runner.evaluate`), :mod:`.report` (metrics.json, report.md, chart, strips),
:mod:`.metrics` (metric functions), :mod:`.faces` (dlib landmarks / embeddings per frame),
:mod:`.vgg` (the VGG trunk shared with the perceptual training loss), :mod:`.perceptual` (LPIPS-VGG,
FID), :mod:`.dino` (transformers image features), :mod:`.weights` (reading weights files: local
paths and ``hf://`` Hub files), :mod:`.clips` (test clips), :mod:`.contenders` (model and baselines).
The command is ``mcc-hf evaluate`` (:mod:`mcc_hf.cli.evaluate`).
"""
