# stemlime developer commands. `make test` and `make demo` work on a fresh clone: they install first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PLUGINS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml experiments/*/pyproject.toml))
STAMP := $(VENV)/.stemlime-installed
# pytest-xdist workers for make test and make check: one per core, at most 4 (each loads torch and
# the models). Measured on a free 2-core machine (2026-12-05, 778 tests): 263 s in one process,
# 229 s with -n 2. The Ray tests share one xdist group (--dist loadgroup), so one Ray cluster
# runs at a time (tests/conftest.py checks it). A worker that crashes ends the run with its test
# named (--max-worker-restart 0), rather than a replacement worker waiting forever for work.
# One process: make test PYTEST_WORKERS=
WORKERS := $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 4 ] && n=4; echo $$n)
PYTEST_WORKERS ?= -n $(WORKERS) --dist loadgroup --max-worker-restart 0
DEBIAN_PACKAGES := libsndfile1 libfluidsynth3 espeak-ng chromium ffmpeg

.PHONY: install system-deps models test check lint typecheck docs demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt $(wildcard plugins/*/pyproject.toml experiments/*/pyproject.toml)
	@$(MAKE) --no-print-directory system-deps
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,plot,ray,docs]' $(addprefix -e ,$(PLUGINS))
	$(BIN)/stemlime models fetch --defaults
	@# librosa compiles its numba code on first use into an on-disk cache; do it once here, not in
	@# several test workers at once (that crashed some: stemlime.fs.first_use)
	$(BIN)/python -c "import numpy as np, librosa; y = np.random.default_rng(0).standard_normal(32000).astype(np.float32); \
	  librosa.onset.onset_detect(y=y, sr=16000, backtrack=True); librosa.beat.beat_track(y=y, sr=16000); \
	  librosa.yin(y, fmin=60, fmax=600, sr=16000); librosa.feature.melspectrogram(y=y, sr=16000)"
	touch $(STAMP)

# Debian libraries the plugins need; installed when missing and we may (root + apt-get).
system-deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "note: please install the Debian packages$$missing (sudo apt-get install$$missing)"; fi; \
	fi

models: install
	$(BIN)/stemlime models fetch --defaults

# Everything CI runs: lint, types, the docs site, the whole test suite (every tier).
test: install lint typecheck docs
	$(BIN)/python -m pytest -q $(PYTEST_WORKERS)

# The fast tier for iterating: lint and the tests not marked slow, browser or ray (pyproject.toml).
check: install lint
	$(BIN)/python -m pytest -q -m "not slow and not browser and not ray" $(PYTEST_WORKERS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The documentation site in site/ (open site/index.html); warnings are errors
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict --quiet

# The core's types (mypy; configured in pyproject.toml)
typecheck: install
	$(BIN)/python -m mypy

demo: install
	$(BIN)/python examples/demo.py

bench: install
	$(BIN)/python bench/run.py

# The paper's Section 4 (experiments/confounder): rendered data in confounder-out-data/, results in confounder-out/.
.PHONY: confounder
confounder: install
	$(BIN)/python experiments/confounder/run.py --seed 0 --out confounder-out

clean:
	rm -rf $(VENV) build .pytest_cache site
