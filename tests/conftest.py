# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Shared fixtures. Tests that need ``../shared`` (reference fixtures, the mini dataset) skip with a
reason when it is absent; set ``MCC_SHARED_DIR`` to use another location."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MCC_SHARED_DIR", ROOT.parent / "shared"))
REFERENCE = SHARED / "reference"
DATA = SHARED / "data" / "talking-heads-mini"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def require_shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared fixtures live in ../shared beside the project root)")
    return path


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    return require_shared(REFERENCE)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return require_shared(DATA)


@pytest.fixture(scope="session")
def official_checkpoints(reference_dir, tmp_path_factory) -> tuple[Path, Path]:
    """The authors' state dicts rebuilt from the manifests, saved as BasicSR checkpoints (built once)."""
    spec = importlib.util.spec_from_file_location("make_reference_weights", reference_dir / "make_reference_weights.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_reference_weights"] = module
    spec.loader.exec_module(module)
    generator = module.build_state_dict(str(reference_dir / "manifest_net_g.json"))
    motion = module.build_state_dict(str(reference_dir / "manifest_motion_estimator.json"))
    assert module.state_dict_sha256(generator) == "16ebaea67a4ae3d7a09309a8e41aa78c3b6242e738f92335075af1987014f6b4"
    assert module.state_dict_sha256(motion) == "a6d1456013f65a81cf9f6f04ee41c831a0810aa0062fc47882c464c61bee3103"
    folder = tmp_path_factory.mktemp("official")
    torch.save({"params": generator, "params_ema": generator}, folder / "net_g_latest.pth")
    torch.save({"params": motion}, folder / "net_motion_estimator_latest.pth")
    return folder / "net_g_latest.pth", folder / "net_motion_estimator_latest.pth"


@pytest.fixture(scope="session")
def converted_dir(official_checkpoints, tmp_path_factory) -> Path:
    """The reference checkpoints converted to a pipeline folder with the public converter."""
    from mcc_hf.conversion import convert_official_checkpoint

    out = tmp_path_factory.mktemp("converted") / "mcc-vox-256"
    convert_official_checkpoint(str(official_checkpoints[0]), str(official_checkpoints[1]), str(out))
    return out


@pytest.fixture(scope="session")
def converted_pipeline(converted_dir):
    from mcc_hf import TalkingHeadPipeline

    pipe = TalkingHeadPipeline.from_pretrained(converted_dir)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="session")
def reference_io(reference_dir):
    from safetensors.torch import load_file

    return load_file(reference_dir / "inputs.safetensors"), load_file(reference_dir / "outputs.safetensors")


needs_face_models = pytest.mark.skipif(
    importlib.util.find_spec("face_recognition_models") is None, reason='needs the face models: pip install "mcc-hf[face]"'
)


@pytest.fixture(scope="module")
def pipe():
    """A tiny-64 pipeline with seeded random weights, one per test module (tests may change its settings)."""
    return tiny_pipeline("tiny-64", seed=0)


@pytest.fixture(scope="module")
def model_dir(pipe, tmp_path_factory) -> Path:
    """The module's :func:`pipe` saved as a pipeline folder."""
    folder = tmp_path_factory.mktemp("tiny-64")
    pipe.save_pretrained(folder)
    return folder


def tiny_pipeline(preset: str = "tiny-64", seed: int = 0):
    from mcc_hf import TalkingHeadPipeline

    torch.manual_seed(seed)
    pipe = TalkingHeadPipeline.from_preset(preset)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def pytest_terminal_summary(terminalreporter):
    """Print the measured parity errors when the parity tests ran."""
    parity = sys.modules.get("test_parity")
    if parity is not None and parity.MEASURED:
        terminalreporter.section("parity with the official implementation (max |diff| per quantity)")
        for what, value in parity.MEASURED.items():
            terminalreporter.write_line(f"{what:40s} {value:.3g}")
