# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Packaging for mcc-hf.

Layout: the library lives in ``mcc_hf/`` and the pipeline code in the top-level ``pipelines/``
folder, which is installed as the subpackage ``mcc_hf.pipelines`` (no top-level ``pipelines``
module is installed).

Install torch first (``pip install torch==2.13.0`` for the CPU build here), then
``pip install -e ".[dev]"``.
"""

import re
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (ROOT / "mcc_hf" / "__init__.py").read_text()).group(1)

extras = {
    "train": ["accelerate>=1.0", "tensorboard>=2.14"],
    # dlib's 68-point landmark and face-identity models (100 MB): best-frame search and metrics.
    "face": ["face-recognition-models>=0.3.0"],
    # transformers: the DINOv2 backbone of FD_DINO / DINO_SIM (mcc-hf evaluate --dino-model).
    "metrics": ["face-recognition-models>=0.3.0", "matplotlib>=3.7", "scipy>=1.10", "transformers>=4.40"],
    "demo": ["gradio>=5.0"],
    # ONNX export (torch.onnx's exporter needs onnxscript) and the ONNX Runtime runner.
    "onnx": ["onnx>=1.16", "onnxscript>=0.3", "onnxruntime>=1.18"],
}
extras["dev"] = sorted(
    {dep for deps in extras.values() for dep in deps}
    # scikit-image: the SSIM cross-check in the tests
    | {"pytest>=8", "pytest-timeout>=2.2", "gradio_client>=1.0", "playwright>=1.40", "scikit-image>=0.22"}
)

setup(
    name="mcc-hf",
    version=VERSION,
    description="One-shot talking-head video generation with multi-scale compensatory codebooks (CVPR 2025), "
    "as Hugging Face Diffusers components",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8") if (ROOT / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["mcc_hf", "mcc_hf.*"]) + ["mcc_hf.pipelines"],
    package_dir={"mcc_hf.pipelines": "pipelines"},
    include_package_data=True,
    package_data={"mcc_hf": ["assets/*.jpg", "default_model/*", "default_model/*/*"]},
    install_requires=[
        "torch>=2.1",
        "diffusers>=0.30",
        "huggingface_hub>=0.23",
        "safetensors>=0.4",
        "numpy>=1.24",
        "Pillow>=10",
        "av>=12",
        "dlib-bin>=19.24",
        "tqdm>=4.60",
    ],
    extras_require=extras,
    entry_points={"console_scripts": ["mcc-hf=mcc_hf.cli:main"]},
    classifiers=[
        "License :: OSI Approved :: Apache Software License",
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
