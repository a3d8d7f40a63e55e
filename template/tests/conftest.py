# Kept by the template: `copier update` rewrites this file.
"""Test set-up kept by the template: every run a test makes writes below a temporary ARTIFACTS_DIR."""

from __future__ import annotations

import os
import tempfile

# Set before the package is imported, so that models, reports and tracking stores of the tests never
# touch the project's own.
os.environ["ARTIFACTS_DIR"] = tempfile.mkdtemp(prefix="artifacts-")
