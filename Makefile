# Every target creates .venv on first use, so a fresh clone needs nothing but Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export DAGSTER_HOME := $(CURDIR)/.dagster_home
export INCENTIVE_HOME := $(CURDIR)/.incentive

.PHONY: install run ui test bench clean chromium

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
	  || { echo "Python 3.11 is required; set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(STAMP)

$(DAGSTER_HOME)/dagster.yaml:
	mkdir -p $(DAGSTER_HOME)
	ln -sf ../dagster.yaml $@

# The main job on the embedded devnet: bootstrap, two live epochs end to end, the weights.
run: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/incentive run

# The Dagster UI and daemon on the same instance, the devnet on a scaled clock (Ctrl-C stops all).
ui: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m devnet.ui

# The browser test (tests/test_ui_browser.py) drives Debian's chromium through Playwright, a pinned
# test dependency; the browser itself comes from apt (as root, as on CI).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || { echo "the browser test needs Debian's chromium: apt-get install chromium (as root)"; exit 1; }

test: $(STAMP) $(DAGSTER_HOME)/dagster.yaml chromium
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest --durations=12

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .dagster_home .incentive
