"""pytest set-up shared by the unit tests and nbval."""

import fcntl
import hashlib
import os
import shutil
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TEST_STORES = ROOT / ".cache" / "test-runs"
# The test that compiles the committed notebooks into the smoke book (tests/test_book.py).
BOOK_TEST = "tests/test_book.py::test_smoke_book_builds"

# Progress bars are noise in tests and in notebook outputs compared by nbval.
os.environ.setdefault("PAPERLIB_QUIET", "1")
# torch's OpenMP threads wait for each other by spinning. When a process has several threads (a user's
# OMP_NUM_THREADS) they share the cores with other processes, and a thread spinning for a
# descheduled partner once kept notebook 07 (83 s serially, two threads) running for over 12 minutes beside
# another test worker. Passive waiting changes no arithmetic; workers and kernels inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# One thread per process: the committed smoke outputs nbval compares were computed with one thread (`make
# notebooks`), and a run's low bits depend on how its float sums are split, so the same thread count gives
# the same numbers on a machine of any size; with two test workers each process also gets a core of its own
# instead of two kernels of two threads sharing two cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def code_key() -> str:
    """A digest of everything a smoke run's numbers depend on here: paperlib's sources, the notebooks (they
    record the verdicts), the installed packages, the data folder, and what sets the thread count and device
    the notebook kernels train with."""
    packages = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions())
    env = [os.environ.get(k, "") for k in ("PAPERLIB_DATA", "OMP_NUM_THREADS", "MKL_NUM_THREADS")]
    env += [os.environ.get("CUDA_VISIBLE_DEVICES", "unset"), str(len(os.sched_getaffinity(0)))]
    digest = hashlib.sha256("\n".join([sys.version, *packages, *env]).encode())
    sources = [*ROOT.joinpath("paperlib").rglob("*.py"), *ROOT.joinpath("notebooks").glob("*.ipynb")]
    for path in sorted(sources):
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def session_store() -> Path:
    """The run store of this code's tests: runs trained by an earlier `make test` of the same code are reused
    (CPU runs are deterministic, so retraining would give the same numbers), and any change to paperlib, a
    notebook or a package gives a new, empty store. A session holds a shared lock on its store; stores of
    other code that no session holds are removed. Never the developer's runs/ folder, whose cached results
    may come from older code. (A file edited during a session counts from the next session on.)"""
    store = TEST_STORES / code_key()
    store.mkdir(parents=True, exist_ok=True)
    global _HELD  # kept open (and locked) until this process ends
    _HELD = open(store / ".session.lock", "a")
    fcntl.flock(_HELD, fcntl.LOCK_SH)
    for other in TEST_STORES.iterdir():
        if other == store:
            continue
        with open(other / ".session.lock", "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # another session is using it
            shutil.rmtree(other, ignore_errors=True)
    return store


_HELD = None
# Set once by the main pytest process; xdist workers and notebook kernels inherit the variable.
if "PAPERLIB_RUNS" not in os.environ:
    os.environ["PAPERLIB_RUNS"] = str(session_store())


def pytest_configure(config):
    """Under pytest-xdist each worker's torch takes its share of the cores instead of all of them. Notebook
    kernels are processes of their own and keep torch's default, so the smoke numbers nbval compares do not
    depend on the number of workers."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        import torch

        torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) // int(workers)))


def pytest_collectstart(collector):
    """nbval: compare the plain-text outputs; HTML tables and stderr repeat them or vary by machine."""
    if getattr(collector, "fspath", None) and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("text/html", "application/javascript", "stderr")


# The files that take longest from an empty store, longest first (pytest --durations on 2 cores: notebook 07
# about 150 s, 06 100 s, 03 and 04 75 s, the rest under 40 s). pytest-xdist hands whole files to the two
# workers in collection order (--no-loadscope-reorder in pyproject.toml), so the long ones start first and the
# short ones fill in around them instead of one long notebook starting last on one worker.
LONGEST_FIRST = (
    "notebooks/07_info_losses.ipynb",
    "notebooks/06_grokking.ipynb",
    "notebooks/03_lmc.ipynb",
    "notebooks/04_label_smoothing.ipynb",
    "tests/test_train.py",
    "tests/test_distributed.py",
    "tests/test_launch.py",
    "notebooks/02_training_dynamics.ipynb",
    "tests/test_paper_profile.py",
    "notebooks/05_pruning.ipynb",
)


def _cost_rank(item) -> int:
    path = item.nodeid.split("::")[0]
    return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)


def pytest_collection_modifyitems(config, items):
    """The longest files first (``LONGEST_FIRST``; the order within a file is kept) and the smoke book test
    last: run serially, its scorecard then shows the verdicts the notebooks have just recorded. Under
    pytest-xdist (``--dist loadfile``) each file, hence each notebook's cells, runs on one worker in order,
    and the scorecard shows the verdicts recorded by the time the book is built."""
    items.sort(key=_cost_rank)  # stable: the other files keep their collection order
    book = [item for item in items if item.nodeid == BOOK_TEST]
    items[:] = [item for item in items if item.nodeid != BOOK_TEST] + book
