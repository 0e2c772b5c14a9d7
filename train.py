#!/usr/bin/env python
# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""Train a talking-head pipeline: ``accelerate launch train.py --model_config tiny-64 --train_data_dir DATA ...``

All logic lives in :mod:`mcc_hf.training`; ``python train.py --help`` lists the options and
docs/training.md explains them.
"""

from mcc_hf.training import main

if __name__ == "__main__":
    main()
