# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""``python -m mcc_hf.cli`` is the same as ``mcc-hf``."""

import sys

from . import main

sys.exit(main())
