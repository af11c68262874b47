# The README's two commands are `make run` and `make test`; everything else is optional.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install browser run test test-unit test-e2e eval bench bench-channels validate lock clean

# Install exactly the pinned set. --ignore-requires-python: Rasa 3.6 says <3.11 but runs on 3.11 (README).
$(STAMP): requirements/lock.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q --no-deps --ignore-requires-python -r requirements/lock.txt
	$(BIN)/pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	touch $@

install: $(STAMP)

# Browser tests drive Debian's Chromium; Playwright never downloads a browser of its own. As root (CI and
# these machines) install it from Debian's packages; otherwise say how, and those tests skip with a reason.
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "Installing Debian's chromium for the browser tests..."; \
	  apt-get install -y -q --no-install-recommends chromium >/dev/null || \
	  { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium >/dev/null; }; \
	else echo "No /usr/bin/chromium: browser tests will skip. Install it with: sudo apt-get install chromium"; fi

run: install          ## Run the bot: Rasa server + action server, SQLite under var/
	$(BIN)/councilbot run

test: install browser ## All tests: fast unit tests, then the end-to-end ones (trains a model)
	$(BIN)/python -m pytest

test-unit: install
	$(BIN)/python -m pytest -m "not e2e"

test-e2e: install browser
	$(BIN)/python -m pytest -m e2e

validate: install     ## Knowledge base and Rasa training data checks
	$(BIN)/councilbot kb validate
	$(BIN)/rasa data validate --fail-on-warnings --data data/nlu data/rules

eval: install         ## Held-out accuracy report -> reports/eval.json
	$(BIN)/councilbot eval

bench: install        ## Benchmark against a stock `rasa init` bot -> reports/bench.json
	$(BIN)/councilbot bench

bench-channels: install  ## Webhook acknowledgement and reply latency -> reports/bench-channels.json
	$(BIN)/councilbot bench --channels

# Regenerate the lock after editing requirements/*.in (needs the registry).
lock:
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/pip install -r requirements/rasa-deps.in -r requirements/app.in
	.lockvenv/bin/pip install --no-deps --ignore-requires-python rasa==3.6.21 rasa-sdk==3.6.2
	{ head -2 requirements/lock.txt; .lockvenv/bin/pip freeze --all | grep -viE '^(pip|councilbot)[= ]'; } > requirements/lock.new
	mv requirements/lock.new requirements/lock.txt && rm -rf .lockvenv

clean:
	rm -rf var models reports
