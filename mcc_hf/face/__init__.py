# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Faces in real images: detection, 68-point landmarks and identity embeddings (dlib), and the
crop / paste-back geometry used to animate un-cropped footage."""
