"""The Django peer's one settings module: the stock choices a Django user would make, driven by PEER_* variables.

PEER_SESSION_ENGINE  cache | db | signed_cookies  (django.contrib.sessions.backends.*)
PEER_REDIS_URL       the Redis that Django's RedisCache uses (required for the cache engine)
PEER_DATA_DIR        the folder of the SQLite database (users, and sessions for the db engine)
PEER_SECRET_KEY      signs the session cookie (signed_cookies) and the CSRF token

Everything else is Django 5.2's default: DEBUG off, the default password
hasher (PBKDF2), non-persistent database connections (CONN_MAX_AGE = 0),
JSON session serialisation.
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

ENGINES = {
    "cache": "django.contrib.sessions.backends.cache",
    "db": "django.contrib.sessions.backends.db",
    "signed_cookies": "django.contrib.sessions.backends.signed_cookies",
}
_engine = os.environ.get("PEER_SESSION_ENGINE", "db")
if _engine not in ENGINES:
    raise ImproperlyConfigured(f"PEER_SESSION_ENGINE={_engine!r}: choose from {', '.join(ENGINES)}")
_data_dir = os.environ.get("PEER_DATA_DIR")
if not _data_dir:
    raise ImproperlyConfigured("PEER_DATA_DIR: the folder for the peer's SQLite database is not set")
_redis_url = os.environ.get("PEER_REDIS_URL", "")
if _engine == "cache" and not _redis_url:
    raise ImproperlyConfigured("PEER_REDIS_URL is required with PEER_SESSION_ENGINE=cache")

SECRET_KEY = os.environ.get("PEER_SECRET_KEY", "authdemo-django-peer-secret-key-0123456789-abcdefghijklmnop")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "peer",
]
# What a login-protected page needs, nothing more.
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "peer.urls"
WSGI_APPLICATION = "peer.wsgi.application"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": Path(_data_dir) / "peer.sqlite3"}}
if _redis_url:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _redis_url}}

SESSION_ENGINE = ENGINES[_engine]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/bench/protected"

USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
