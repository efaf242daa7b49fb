# The authdemo app image: gunicorn serving app:app on port 8000.
# docker-compose.yml runs two of these behind nginx; `make docker-test` builds it
# and runs the stack (tests/test_docker_stack.py).
#
# No secret goes into any layer: the signing key and the database password are
# files mounted at run time (/run/secrets/...), read through AUTHDEMO_*_FILE.
#
# BASE_IMAGE: the public image by default; docker/build-images.sh passes a local
# stand-in built from Debian's packages where no image registry answers.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed uid/gid, so files on the host can be granted to it by number.
RUN groupadd --system --gid 10001 authdemo \
 && useradd --system --uid 10001 --gid authdemo --home-dir /app --no-create-home \
            --shell /usr/sbin/nologin authdemo

WORKDIR /app

# Dependencies first (pinned): this layer is rebuilt only when requirements.txt changes.
# A machine whose package index is reached through its own CA (a proxy) gives the
# bundle as a build secret: `--secret id=pip_ca,src=/etc/ssl/certs/ca-certificates.crt`.
# It is mounted for this one command and is in no layer; without it pip uses its own.
COPY requirements.txt ./
RUN --mount=type=secret,id=pip_ca \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi \
 && pip install -r requirements.txt

# Only what runs: no tests, no instance/ or secrets/ (.dockerignore keeps them out of the context too).
COPY app.py ./
COPY authdemo/ authdemo/
COPY migrations/ migrations/
COPY templates/ templates/
COPY static/ static/
COPY config/gunicorn.conf.py config/

# The instance folder is the only place the app may write (SQLite, generated keys);
# with PostgreSQL and mounted secrets it stays empty.
RUN mkdir -p /app/instance && chown authdemo:authdemo /app/instance

ENV AUTHDEMO_ENV=production \
    GUNICORN_BIND=0.0.0.0:8000

USER authdemo
EXPOSE 8000

# No curl in the slim image: Python asks /healthz (on GUNICORN_BIND's port), which answers 503
# when the store is down.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]

CMD ["gunicorn", "--config", "config/gunicorn.conf.py", "app:app"]
