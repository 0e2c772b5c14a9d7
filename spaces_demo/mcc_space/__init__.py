# Copyright 2026 The mcc-hf developers. Licensed under the Apache License, Version 2.0.
"""The Gradio Space of mcc-hf, a module per part of the app; ``app.py`` next to this package runs it."""
