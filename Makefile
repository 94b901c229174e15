# Two commands do all set-up: `make book` and `make test`. Both create .venv when it is missing and skip
# what is installed (the stamp file), so a second run starts working within seconds. `make book` renders the
# shipped cpu build (book/cpu-build, no training); `make reproduce` rebuilds that from an empty run store.

PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.paperlib-installed
MATHJAX := book/_mathjax/tex-chtml.js
PROFILE ?= cpu
DEBIAN_FMNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

.PHONY: setup data browser mathjax book reproduce test bench mutants lint clean notebooks

setup: $(STAMP) $(MATHJAX) data

# torch first, pinned: a plain `torch` requirement would make pip fetch a multi-GB build from the index.
# Then the package with the study's extra (book) and the tests' (dev); `pip install .` alone gives the measurement.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[book,dev]'
	touch $(STAMP)

mathjax: $(MATHJAX)
$(MATHJAX):
	npm install --silent --prefix .cache/mathjax --no-save --no-audit --no-fund mathjax@3
	rm -rf book/_mathjax
	cp -r .cache/mathjax/node_modules/mathjax/es5 book/_mathjax

# Fashion-MNIST: $PAPERLIB_DATA, else Debian's package (installed here when root with apt), else torchvision.
data:
	@if [ -z "$$PAPERLIB_DATA" ] && [ ! -f $(DEBIAN_FMNIST) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Fashion-MNIST (apt-get install dataset-fashion-mnist)"; \
	    apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null; \
	  else \
	    echo "note: Fashion-MNIST not found; set PAPERLIB_DATA or install dataset-fashion-mnist"; \
	  fi; \
	fi

# PROFILE=cpu (the default) renders the shipped build with execution off; another profile executes its chapters.
book: setup
	$(PY) -m paperlib book --profile $(PROFILE)

# Execute every cpu chapter from an empty run store (about 40-60 min on 2 cores), print how its verdicts and
# rounded numbers differ from the shipped build's, then replace book/cpu-build with it.
reproduce: setup
	$(PY) -m paperlib reproduce --profile cpu

# Headless Chromium lays out the rendered scorecard at 1280 px in tests/test_book.py (installed here when root
# with apt, as the data are).
browser:
	@if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null && ! command -v google-chrome >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing headless Chromium (apt-get install chromium)"; \
	    apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "note: Chromium not found; the book test needs it (apt-get install chromium)"; \
	  fi; \
	fi

# Two workers share the cores (pytest-xdist); each file's tests, so each notebook's cells, stay on one worker
# in order (--dist loadfile, in pyproject.toml).
test: setup browser
	$(PY) -m pytest -n 2

# Speed and memory measurements (not part of the tests): prints a report, writes benchmarks/RESULTS.md.
bench: setup
	$(PY) -m benchmarks.run

# Mutation score of metrics, intervals, verdicts, theory and the check_* functions (mutmut, configured in
# pyproject.toml; not part of `make test`): prints killed / checked per file. One test process; results are
# cached in mutants/, so a second run re-tests only what changed.
mutants: $(STAMP)
	$(PY) -c "import mutmut" 2>/dev/null || $(PY) -m pip install --quiet --disable-pip-version-check 'mutmut==3.8.1'
	$(PY) -m benchmarks.mutants

lint: $(STAMP)
	$(VENV)/bin/ruff check paperlib tests benchmarks conftest.py
	$(VENV)/bin/ruff format --check paperlib tests benchmarks conftest.py

clean:
	rm -rf mutants book/_build book/chapters book/scorecard.md book/found.md book/about.md book/scorecard.png .cache/test-runs

# Re-execute the committed notebooks in place under the smoke profile (their outputs are what nbval checks),
# with one thread, as the tests run them (conftest.py), and into an empty run store: runs/ may hold smoke runs
# of older code or another thread count.
notebooks: setup
	store=$$(mktemp -d) && for nb in notebooks/[0-9][0-9]_*.ipynb; do \
	  PAPERLIB_RUNS=$$store PAPERLIB_QUIET=1 OMP_NUM_THREADS=1 \
	  $(PY) -m papermill --cwd notebooks --no-progress-bar "$$nb" "$$nb" -p profile smoke || exit 1; \
	done; rm -rf $$store
