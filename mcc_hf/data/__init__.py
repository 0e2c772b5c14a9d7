# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Talking-head video datasets for training (frame folders and video files, FOMM/VoxCeleb layout)."""

from .video_check import UnreadableVideo, VideoCheckResult, check_video, check_videos
from .video_dataset import VideoPairDataset, VideoSource, find_videos, identity_of, read_video_frames

__all__ = [
    "UnreadableVideo",
    "VideoCheckResult",
    "VideoPairDataset",
    "VideoSource",
    "check_video",
    "check_videos",
    "find_videos",
    "identity_of",
    "read_video_frames",
]
