# make run: serve the site on http://127.0.0.1:5000 (memory store, SQLite).
# make test: the whole test suite. Both set themselves up on a fresh machine.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FLASK := $(BIN)/flask --app app
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test lint db clean serve docker-secrets

$(STAMP): requirements.txt requirements-dev.txt bench/peers/requirements.txt
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

# nginx on https://127.0.0.1:8443 (http 8080 redirects) in front of two gunicorn
# instances (8001, 8002) on one shared store: sqlalchemy unless AUTHDEMO_SESSION_BACKEND
# says otherwise. Foreground; Ctrl-C stops every process. Needs nginx and openssl.
serve: db
	$(BIN)/python -m authdemo.harness.stack serve $(SERVE_ARGS)

# Host files that docker-compose.yml mounts as /run/secrets/*: made once, never in git.
# The directory is private to you; the files are 0644 because the containers'
# users (authdemo, postgres, nginx) are not you and must read them through the bind mount.
docker-secrets:
	@mkdir -p secrets && chmod 700 secrets
	@test -s secrets/secret_key || $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(48))' > secrets/secret_key
	@test -s secrets/postgres_password || $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(24))' > secrets/postgres_password
	@test -s secrets/tls_cert.pem || openssl req -x509 -nodes -days 30 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
		-keyout secrets/tls_key.pem -out secrets/tls_cert.pem 2>/dev/null
	@chmod 644 secrets/* && chmod 600 secrets/tls_key.pem  # nginx's master is root in its container
	@ls -l secrets

# The images docker-compose.yml runs, built locally: a Debian base (debootstrap, once,
# cached in /var/cache/authdemo-docker), stand-ins for the public images, the app image.
# Needs root (debootstrap), a Docker engine, debootstrap; see docs/docker.md.
.PHONY: docker-images docker-test
docker-images:
	docker/build-images.sh

# Builds the images, brings the compose stack up and checks it for real, takes it down
# (tests/test_docker_stack.py; `make test` runs it too, and skips it without an engine).
docker-test: $(STAMP)
	AUTHDEMO_REQUIRE_SERVICES=1 $(BIN)/python -m pytest -p no:cacheprovider tests/test_docker_stack.py $(PYTEST_ARGS)

# The comparison lab: each starts its own stores and gunicorn processes, stops them
# all at the end, and leaves results.json and PNG charts in instance/results/ (/compare).
.PHONY: compare bench
compare: $(STAMP)
	$(FLASK) compare-restart

bench: $(STAMP)
	$(FLASK) bench --quick

# Figures in docs/ come from the lab's results.json (between <!-- fig:… --> markers), never typed by hand.
.PHONY: docs-figures docs-figures-check
docs-figures: $(STAMP)
	$(BIN)/python -m authdemo.lab.docs_figures docs/*.md

docs-figures-check: $(STAMP)
	$(BIN)/python -m authdemo.lab.docs_figures --check docs/*.md

# The README's screenshots (docs/img/), from a fresh app with headless Chromium.
.PHONY: screenshots
screenshots: $(STAMP)
	$(BIN)/python -m authdemo.harness.screenshots

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check authdemo tests app.py bench
	$(BIN)/ruff format --check authdemo tests app.py bench

clean:
	rm -rf $(VENV) .pytest_cache
