"""pytest set-up shared by the unit tests and nbval."""

import os
import tempfile

# Progress bars are noise in tests and in notebook outputs compared by nbval.
os.environ.setdefault("PAPERLIB_QUIET", "1")
# Notebooks under nbval train into a fresh store, never into (or from) the developer's runs/ folder, whose
# cached results may come from older code.
os.environ.setdefault("PAPERLIB_RUNS", tempfile.mkdtemp(prefix="paperlib-test-runs-"))


def pytest_collectstart(collector):
    """nbval: compare the plain-text outputs; HTML tables and stderr repeat them or vary by machine."""
    if getattr(collector, "fspath", None) and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("text/html", "application/javascript", "stderr")
