# giftq: `make demo` and `make test` do their own set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo run dev test lint format bench clean

# `make run`: the Procfile's processes with the settings of ENV_FILE; `make dev` adds the Bamboo sandbox.
ENV_FILE ?= .env
PROCFILE ?= Procfile

install: $(STAMP)

# A virtualenv with the pinned dependencies (constraints.txt) and giftq itself (editable).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/giftq demo

# honcho reads ENV_FILE into every process's environment; the virtualenv's bin comes first on PATH, so the
# Procfile's bare `giftq` and `celery` are this checkout's; GIFTQ_ENV_FILE tells a `giftq` command the same file
# (it reads ./.env otherwise). Ctrl-C (or SIGTERM) stops every process.
run: $(STAMP)
	@test -f "$(ENV_FILE)" || { echo "no $(ENV_FILE): cp .env.example .env, then fill in the keys and credentials" >&2; exit 1; }
	PATH="$(CURDIR)/$(BIN):$$PATH" GIFTQ_ENV_FILE="$(abspath $(ENV_FILE))" $(BIN)/honcho start --procfile "$(PROCFILE)" --env "$(ENV_FILE)" --app-root "$(CURDIR)"

dev:
	$(MAKE) run PROCFILE=Procfile.dev

# The suite runs on TEST_PROCESSES pytest processes (pytest-xdist), a test file's tests all in one of them: each
# process starts its own redis-server and sandboxes, and most tests wait on real workers more than they compute.
TEST_PROCESSES ?= 2

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache .hypothesis
