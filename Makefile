# Two commands for a newcomer: `make demo` and `make test`. Both set up
# everything they need: Debian packages (when missing and we are root), the
# virtual environment in .venv from the pinned requirements.lock, and the
# project itself.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
# The interpreter: Debian's own Python where it has one of 3.11–3.13 (built with profile-guided optimisation: the
# suite takes 13 % less CPU than under pyenv's plain build of 3.11 on this 2-core host), else the first on PATH.
PY ?= $(shell for p in /usr/bin/python3.11 /usr/bin/python3.12 /usr/bin/python3.13 python3.11 python3.12 python3.13 \
	python3; do command -v $$p && break; done)
VENV := .venv
PIP := $(VENV)/bin/python -m pip install -q --disable-pip-version-check
STAMP := $(VENV)/.installed-$(shell cat requirements.lock requirements-tools.lock pyproject.toml | sha256sum | cut -c1-12)
export PREFECT_HOME ?= $(CURDIR)/var/prefect

.PHONY: demo test lint bench bench-e2e bench-warehouse install sysdeps lock clean

demo: install
	$(VENV)/bin/katsaus demo

# Style (ruff), the pipeline's import layers (import-linter), then every test, a worker on every core (each starts
# its own Prefect and PostgreSQL) taking a test file, or a group of files sharing a run, at a time, longest first
# (tests/conftest.py); the 15 slowest tests are listed at the end (where the suite's time goes).
test: install lint
	$(VENV)/bin/python -m pytest -q -n auto --dist loadfile --durations=15

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

# Validation benchmark (issue 3): GX suite against the same checks by hand on ~5 M
# ledger rows; not part of `make test`. Results go to var/bench/results/.
BENCH_ARGS ?= --scale 270 --repeat 3
bench: install
	$(VENV)/bin/python bench/validation.py $(BENCH_ARGS)

# End-to-end benchmark (issue 14): the annual report at scale 89 (generated once into var/bench/data/), full and
# next month's run, on SQLite and PostgreSQL, against a DuckDB floor; not part of `make test`.
E2E_ARGS ?= --scale 89
bench-e2e: install
	@mkdir -p "$(PREFECT_HOME)"  # the script imports Prefect, which would warn of a home it cannot make
	$(VENV)/bin/python bench/e2e.py $(E2E_ARGS)

# The embedded warehouse (issue 14): SQLite as katsaus loads it against DuckDB, loading, reading and a second process
# opening the file; not part of `make test`.
WAREHOUSE_ARGS ?= --scale 89
bench-warehouse: install
	$(VENV)/bin/python bench/embedded_warehouse.py $(WAREHOUSE_ARGS)

install: sysdeps $(STAMP)

# The pinned packages go in with uv (pinned in requirements-tools.lock): half a minute, where pip takes over one.
# Compiled to bytecode as pip does: this host sets PYTHONDONTWRITEBYTECODE, so without it every process would
# compile its libraries again (importing Prefect and GX took 18 s instead of 7).
# Without uv (no network to PyPI, say) pip installs the same lock.
$(STAMP): requirements.lock requirements-tools.lock pyproject.toml
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	rm -f $(VENV)/.installed-*
	@echo "Installing the pinned packages into $(VENV)"
	@if $(PIP) -r requirements-tools.lock 2>/dev/null \
	  && $(VENV)/bin/uv pip install -q --compile-bytecode --python $(VENV)/bin/python -r requirements.lock; then \
	  $(VENV)/bin/uv pip install -q --python $(VENV)/bin/python --no-deps -e .; \
	else \
	  echo "uv unavailable: installing with pip"; \
	  $(PIP) -r requirements.lock 2>&1 | { grep -v "is ignored: it is neither" || true; }; \
	  $(PIP) --no-deps -e . 2>&1 | { grep -v "is ignored: it is neither" || true; }; \
	fi
	touch $@

# pdftoppm (tests look at the PDF as images), Pango for WeasyPrint, fonts,
# Voikko and its Finnish dictionary (the PDF's hyphenation, the names' spelling),
# the PostgreSQL server binaries the warehouse tests start on loopback, and venv for the interpreter.
sysdeps:
	@missing=""; \
	command -v pdftoppm >/dev/null || missing="$$missing poppler-utils"; \
	ldconfig -p | grep -q libpangoft2-1.0 || missing="$$missing libpango-1.0-0 libpangoft2-1.0-0"; \
	ldconfig -p | grep -q libharfbuzz-subset || missing="$$missing libharfbuzz-subset0"; \
	fc-list 2>/dev/null | grep -q DejaVuSans || missing="$$missing fonts-dejavu-core"; \
	ldconfig -p | grep -q 'libvoikko\.so\.1' || missing="$$missing libvoikko1"; \
	test -f /usr/lib/voikko/5/mor-standard/mor.vfst || missing="$$missing voikko-fi"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	$(PY) -c 'import ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "Please install these Debian packages:$$missing" >&2; exit 1; fi; \
	fi

# Regenerate the pinned lock after changing pyproject.toml (uv comes with `make install`).
lock: install
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 -o requirements.lock

clean:
	rm -rf var out
