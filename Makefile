# make run: serve the site on http://127.0.0.1:5000 (memory store, SQLite).
# make test: the whole test suite. Both set themselves up on a fresh machine.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FLASK := $(BIN)/flask --app app
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test lint db clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

db: $(STAMP)
	$(FLASK) init-db
	$(FLASK) seed-demo

# One process with threads: the memory store lives inside that process.
run: db
	$(FLASK) run --host $(HOST) --port $(PORT) --with-threads

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check authdemo tests app.py
	$(BIN)/ruff format --check authdemo tests app.py

clean:
	rm -rf $(VENV) .pytest_cache
