"""The staleness guard: the cpu build shipped in book/cpu-build must have been computed from the cpu configs
of the current code. It fails, naming the chapter and `make reproduce`, when a cpu setting changed since
(or when no build ships yet). Its own file, so the other tests run without it while a build is pending."""

import pytest

from paperlib import shipped


def test_shipped_cpu_build_is_current():
    try:
        lines = shipped.stale("cpu")
    except shipped.ShippedError as err:
        pytest.fail(str(err), pytrace=False)
    if lines:
        pytest.fail("\n".join(lines), pytrace=False)
