# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Pipelines of mcc-hf. Installed as ``mcc_hf.pipelines`` (see setup.py)."""

from .pipeline_talking_head import TalkingHeadPipeline, TalkingHeadPipelineOutput

__all__ = ["TalkingHeadPipeline", "TalkingHeadPipelineOutput"]
