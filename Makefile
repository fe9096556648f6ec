# calspot: two commands do all the set-up on a fresh clone.
#   make demo   virtual environment, install, synthetic nights, ingest, dashboard
#   make test   virtual environment, install what the tests need, run them all
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
CHROMIUM ?= /usr/bin/chromium
# Debian packages the tests drive: Chromium for the browser tests (never a browser
# downloaded by Playwright); ESO's esorex and UVES pipeline for the pipeline tests.
# PostgreSQL for the store tests on a real database server (a throwaway cluster).
DEBIAN_PACKAGES ?= chromium esorex cpl-plugin-uves postgresql
PYTEST_ARGS ?=
# The suite runs in parallel, one worker per CPU (pytest-xdist).
PYTEST_WORKERS ?= auto

.PHONY: install install-test debian-packages chromium demo lint test test-fast bench clean

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	$(PIP) install --quiet --no-deps -e .
	touch $@

$(VENV)/.test-installed: $(VENV)/.installed requirements-test.txt
	$(PIP) install --quiet -r requirements-test.txt
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.test-installed debian-packages

# Installs only what is missing (a Chromium at $(CHROMIUM) counts): as root in CI, with sudo elsewhere.
debian-packages:
	@missing=""; \
	for package in $(DEBIAN_PACKAGES); do \
		if [ "$$package" = chromium ] && [ -x "$(CHROMIUM)" ]; then continue; fi; \
		dpkg-query -W -f='$${Status}' "$$package" 2>/dev/null | grep -q "install ok installed" \
			|| missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages for the tests:$$missing"; \
		SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

chromium:
	@$(MAKE) --no-print-directory debian-packages DEBIAN_PACKAGES=chromium

demo: install
	$(VENV)/bin/calspot demo

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: install-test lint
	$(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

test-fast: install-test
	$(PY) -m pytest -n $(PYTEST_WORKERS) -m "not slow and not browser" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
