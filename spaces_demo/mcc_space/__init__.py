# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The Gradio Space of mcc-hf, one module per concept; ``app.py`` next to this package is the entry point.

- :mod:`.settings`: the server's private folder and the deployment settings (imports no gradio);
- :mod:`.uploads`: where inputs may come from and the checks they pass before any model work;
- :mod:`.rendering`: options, messages for the user, the model and the ``/animate`` handler;
- :mod:`.live`: camera frames in, animated frames out (the ``/live`` stream);
- :mod:`.ui`: the texts, controls and tabs of the page (:func:`~.ui.build_demo`).

Importing the package turns gradio's analytics and the Hub's telemetry off (unless the operator set them),
before any of its modules imports gradio.
"""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
