"""gunicorn settings for authdemo: `gunicorn -c config/gunicorn.conf.py app:app`.

Every value can be changed from the environment (GUNICORN_*) or the command
line (command-line flags win over this file). The app itself is configured by
its own AUTHDEMO_* variables.
"""

import os
import pathlib

_env = os.environ.get

# Loopback by default: behind nginx nothing else may reach the app, because the
# app believes the X-Forwarded-* headers it gets (AUTHDEMO_PROXY_HOPS). In a
# container, GUNICORN_BIND=0.0.0.0:8000 and the network keeps it private instead.
bind = [_env("GUNICORN_BIND", "127.0.0.1:8000")]

# Processes × threads. Python code in one process runs on one core at a time:
# a login spends ~100 ms of CPU in scrypt (which releases the GIL, measured),
# but templates, SQLAlchemy and msgpack do not, so a second process uses a
# second core; more processes than cores only add memory. Most of a request
# waits on the session store or the database, which threads cover cheaply:
# 2 × 4 = 8 requests in flight per instance, under the database pool's 10
# connections per process. (The classic 2 × cores + 1 is for sync workers
# without threads.) The memory store lives in one process, so it gets exactly
# one: its sessions are then consistent within one instance, though a second
# instance still cannot see them.
worker_class = "gthread"
if _env("AUTHDEMO_SESSION_BACKEND", "memory").strip().lower() == "memory":
    workers = 1
else:
    workers = int(_env("GUNICORN_WORKERS", "2"))
threads = int(_env("GUNICORN_THREADS", "4"))

# A worker silent for 30 s is killed and replaced; store timeouts are ~1 s, so
# only a real hang gets there. On SIGTERM (docker stop, make serve's Ctrl-C)
# requests in flight get 8 s to finish: under Docker's 10 s before SIGKILL.
timeout = 30
graceful_timeout = 8
# Longer than nginx keeps an idle upstream connection (60 s), so nginx always
# closes first and never sends a request on a connection gunicorn just closed.
keepalive = 75

# ProxyFix in the app is the one place that decides which X-Forwarded-* to
# believe. Without this, gunicorn would also accept X-Forwarded-Proto from any
# local process (its default trusts 127.0.0.1).
forwarded_allow_ips = ""

# Which instance answered, in every access-log line; %(h)s is the client's
# address as ProxyFix restored it, %(M)s the duration in milliseconds.
proc_name = _env("AUTHDEMO_INSTANCE_NAME", "authdemo")
accesslog = _env("GUNICORN_ACCESSLOG", "-")
errorlog = "-"
access_log_format = f'{proc_name.replace("%", "%%")} %(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(f)s" "%(a)s"'

# gunicorn 25+ opens a control socket at ~/.gunicorn/gunicorn.ctl by default:
# two instances on one machine would fight over it.
control_socket_disable = True

# The worker heartbeat file: in RAM when possible (Docker's /tmp may be a slow overlay).
if pathlib.Path("/dev/shm").is_dir():
    worker_tmp_dir = "/dev/shm"
