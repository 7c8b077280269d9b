# Two commands matter: `make run` and `make test`. Each sets up everything it
# needs on a fresh clone (virtualenv, knowledge base, trained model) and skips
# what is already up to date.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
WEB_STAMP := web/node_modules/.installed
CHROMIUM  := /usr/bin/chromium
KB      := knowledge/trials.db
MODEL   := models/trialbot.tar.gz
# Datasette's own venv for `make browse` (defined here: prerequisites expand when read).
BROWSE_VENV  := .venv-browse
BROWSE_STAMP := $(BROWSE_VENV)/.installed
# PostgreSQL and Redis from Debian for tests/test_scale_out.py (installed when missing).
SCALE_STAMP  := $(VENV)/.scale-out-packages

# Privacy and quiet defaults for every Rasa/TensorFlow process we start.
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONDONTWRITEBYTECODE := 1
export RASA_PORT ?= 5005
export ACTIONS_PORT ?= 5055

KB_SOURCES    := $(wildcard knowledge/*.py knowledge/trials/*.yaml knowledge/vocabulary/*.yaml knowledge/*.json)
LOOKUPS := data/lookups.yml
MODEL_SOURCES := config.yml domain.yml $(filter-out $(LOOKUPS),$(wildcard data/*.yml)) $(LOOKUPS) bot/nlu/components.py \
                 knowledge/vocab.py knowledge/normalize.py knowledge/staging.py $(wildcard knowledge/vocabulary/*.yaml)

.PHONY: help setup kb train test test-fast lint pytest run lock bench bench-load bench-compare clean

help:
	@echo "make run        set up, build the knowledge base, train if stale, start the assistant"
	@echo "make test       set up, build, train, run every test (lint and type checks first)"
	@echo "make test-fast  the unit tier: no stack, no browser, no PostgreSQL (the inner loop)"
	@echo "make bench | bench-load | bench-compare   the engine; the stack under load; ours against the stock Rasa bot"
	@echo "make lint | setup | kb | train | lock | clean"

setup: $(STAMP) $(WEB_STAMP) $(CHROMIUM)

# Runtime pins, then the test/lint tools, both checked against their hashes; then the
# project's own packages (pyproject.toml) in editable mode, so tests and benchmarks import
# them from anywhere.
$(STAMP): requirements.lock requirements-dev.lock pyproject.toml scripts/find-python310.sh
	@PY310=$$(scripts/find-python310.sh) || exit 1; \
	if [ ! -x $(PY) ] || ! $(PY) -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then \
	  rm -rf $(VENV) && echo "creating $(VENV) with $$PY310" && "$$PY310" -m venv $(VENV); \
	fi
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The chat widget (rasa-webchat, pinned in web/package-lock.json) is served from
# web/node_modules by bot/web.py: installed here, never fetched from a CDN at run time.
$(WEB_STAMP): web/package.json web/package-lock.json
	npm ci --prefix web --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

# The browser tests drive Debian's Chromium (Playwright's own browser download is not used).
$(CHROMIUM):
	@SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	echo "installing Debian's chromium for the browser tests"; \
	$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

kb: $(KB)

$(KB): $(STAMP) $(KB_SOURCES)
	$(PY) -m knowledge build

train: $(MODEL)

# NLU lookup tables are generated from knowledge/vocabulary, never edited by hand.
$(LOOKUPS): $(STAMP) bot/nlu/lookups.py $(wildcard knowledge/vocabulary/*.yaml)
	$(PY) -m bot.nlu.lookups

$(MODEL): $(STAMP) $(MODEL_SOURCES)
	$(PY) -m rasa train --fixed-model-name trialbot --out models --quiet

pytest: $(STAMP) $(WEB_STAMP) $(CHROMIUM) $(KB) $(MODEL) $(BROWSE_STAMP) $(SCALE_STAMP)
	$(PY) -m pytest

# Lint, format and type checks first (seconds), then the conversation checks (data, dialogue
# on test stories, held-out NLU scores), then pytest.
test: $(STAMP) $(WEB_STAMP) $(CHROMIUM) $(KB) $(MODEL) $(BROWSE_STAMP) $(SCALE_STAMP)
	$(MAKE) --no-print-directory lint
	$(PY) -m rasa data validate
	$(PY) -m rasa test core --stories tests/ --model $(MODEL) --fail-on-prediction-errors --out results/core
	$(PY) -m rasa test nlu --nlu tests/nlu/held_out.yml --model $(MODEL) --out results/nlu
	$(PY) -m tests.nlu_scores results/nlu --min-intent-f1 0.95 --min-entity-f1 0.95
	$(PY) -m rasa test nlu --nlu tests/nlu/held_out_zh.yml --model $(MODEL) --out results/nlu_zh
	$(PY) -m tests.nlu_scores results/nlu_zh --min-intent-f1 0.95 --min-entity-f1 0.95
	TRIALBOT_NO_SKIPS=1 $(PY) -m pytest -n 2 --dist loadfile

run: $(STAMP) $(WEB_STAMP) $(KB) $(MODEL)
	$(PY) -m bot run

bench: $(STAMP)
	$(PY) bench/bench_engine.py

# Load benchmark over REST on a stack it starts (bench/bench_load.py; docs/performance.md): 1 user, then 50 concurrent.
bench-load: $(STAMP) $(KB) $(MODEL)
	$(PY) bench/bench_load.py --users 1 --users 50

# This assistant against the stock `rasa init` bot, side by side on this machine (bench/bench_compare.py;
# trains the stock bot once, cached under bench/out/stock-model/).
bench-compare: $(STAMP) $(KB) $(MODEL)
	$(PY) bench/bench_compare.py

# Lint, format and type checks (pinned in requirements-dev.lock; settings in pyproject.toml).
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

# The unit tier: what needs no running stack, browser, Datasette or PostgreSQL (tests marked
# `slow` need one of those). The inner loop; `make test` runs everything.
test-fast: $(STAMP) $(LOOKUPS)
	$(PY) -m pytest -m "not slow" -q -n 2

# Re-resolve the pins with hashes from requirements.in and requirements-dev.in (needs
# network access to PyPI; pip-tools runs from its own scratch venv).
lock:
	rm -rf .venv-lock && "$$(scripts/find-python310.sh)" -m venv .venv-lock
	.venv-lock/bin/pip install --quiet pip-tools==7.4.1
	.venv-lock/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
	  --no-emit-find-links -o requirements.lock requirements.in
	.venv-lock/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
	  --no-emit-find-links -o requirements-dev.lock requirements-dev.in
	rm -rf .venv-lock

clean:
	rm -rf $(VENV) $(KB) models/*.tar.gz .pytest_cache

# Knowledge-base browsing for coordinators: Datasette over knowledge/trials.db, read-only
# (-i: immutable), on 127.0.0.1 only. Datasette lives in its own venv, pinned by
# requirements-browse.lock, so it never moves Rasa's pins. Restart it after `make kb`.
export BROWSE_PORT ?= 8001

.PHONY: browse browse-setup
browse-setup: $(BROWSE_STAMP)

$(BROWSE_STAMP): requirements-browse.lock scripts/find-python310.sh
	@PY310=$$(scripts/find-python310.sh) || exit 1; \
	if [ ! -x $(BROWSE_VENV)/bin/python ]; then "$$PY310" -m venv $(BROWSE_VENV); fi
	$(BROWSE_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-browse.lock
	touch $(BROWSE_STAMP)

browse: $(BROWSE_STAMP) $(KB)
	$(BROWSE_VENV)/bin/datasette serve -i $(KB) --host 127.0.0.1 --port $(BROWSE_PORT) \
	  --metadata knowledge/datasette.yaml

# The scale-out path (docs/scale-out.md): tests/test_scale_out.py runs several Rasa workers
# on throwaway PostgreSQL and Redis servers (scripts/scale-out-services.sh), so Debian's
# postgresql and redis-server are installed when missing (apt-get, non-interactive; sudo
# when not root). If that cannot work here, this target fails, and so does `make test`.
.PHONY: scale-out-packages
scale-out-packages: $(SCALE_STAMP)

$(SCALE_STAMP): scripts/scale-out-services.sh | $(STAMP)
	scripts/scale-out-services.sh install
	touch $@
