# The README's two commands are `make run` and `make test`; everything else is optional.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
TEST_STAMP := $(VENV)/.test-installed-stamp
PIP_PINNED := $(BIN)/pip install --disable-pip-version-check -q --no-deps --ignore-requires-python

.PHONY: install install-test browser run test test-unit test-e2e check eval bench bench-channels validate lock clean

# Install exactly the pinned set (--no-deps: every package is in the lock, so two installs are identical).
# --ignore-requires-python: Rasa 3.6 says <3.11 but runs on 3.11 (README).
$(STAMP): requirements/lock.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP_PINNED) -r requirements/lock.txt
	$(BIN)/pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	touch $@

install: $(STAMP)

# Test and lint tools on top of the runtime set, from their own full lock; `make run` never installs them.
$(TEST_STAMP): $(STAMP) requirements/test-lock.txt
	$(PIP_PINNED) -r requirements/test-lock.txt
	touch $@

install-test: $(TEST_STAMP)

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

test: install-test browser ## All tests: fast unit tests, then the end-to-end ones (trains a model)
	$(BIN)/python -m pytest

test-unit: install-test
	$(BIN)/python -m pytest -m "not e2e"

test-e2e: install-test browser
	$(BIN)/python -m pytest -m e2e

# Lint, format check and type check of our own code (configured in pyproject.toml). Runs all three and
# fails if any failed, so one finding doesn't hide the others.
check: install-test
	@rc=0; \
	$(BIN)/ruff check bot actions knowledge tests || rc=1; \
	$(BIN)/ruff format --check bot actions knowledge tests || rc=1; \
	$(BIN)/mypy || rc=1; \
	exit $$rc

validate: install     ## Knowledge base and Rasa training data checks
	$(BIN)/councilbot kb validate
	$(BIN)/rasa data validate --fail-on-warnings --data data/nlu data/rules

eval: install         ## Held-out accuracy report -> reports/eval.json
	$(BIN)/councilbot eval

bench: install        ## Benchmark against a stock `rasa init` bot -> reports/bench.json
	$(BIN)/councilbot bench

bench-channels: install  ## Webhook acknowledgement and reply latency -> reports/bench-channels.json
	$(BIN)/councilbot bench --channels

# Regenerate both locks after editing requirements/*.in (needs the registry). The runtime lock is what
# rasa-deps.in + app.in resolve to; the test lock holds only what test.in adds, resolved with every runtime
# package held at its locked version (-c), so installing it on top changes nothing `make run` uses.
FREEZE := .lockvenv/bin/pip freeze --all | grep -viE '^(pip|councilbot)[= ]'
lock:
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/pip install -r requirements/rasa-deps.in -r requirements/app.in
	.lockvenv/bin/pip install --no-deps --ignore-requires-python rasa==3.6.21 rasa-sdk==3.6.2
	{ head -2 requirements/lock.txt; $(FREEZE); } > requirements/lock.new
	.lockvenv/bin/pip install -c requirements/lock.new -r requirements/test.in
	{ head -2 requirements/test-lock.txt; $(FREEZE) | grep -vxFf requirements/lock.new; } > requirements/test-lock.new
	grep -q '^pytest==' requirements/test-lock.new && ! grep -viE '^(#|[A-Za-z0-9_.-]+==[^ ]+$$)' requirements/lock.new requirements/test-lock.new
	mv requirements/lock.new requirements/lock.txt && mv requirements/test-lock.new requirements/test-lock.txt && rm -rf .lockvenv

clean:
	rm -rf var models reports
