"""The Flask peer of ``flask bench --peers``: stock Flask-Session 0.8 and Flask-Login 0.6, as their docs set them up.

The smallest app a Flask user would write for a login-protected page with
server-side sessions: a User model in Flask-SQLAlchemy, Flask-Login with a
``user_loader`` that reads the user from the database, Flask-Session with one
``SESSION_TYPE``, every setting at its documented default. Configured by
PEER_* variables:

PEER_SESSION_TYPE  redis | memcached | sqlalchemy | cachelib  (Flask-Session's SESSION_TYPE)
PEER_DATA_DIR      the folder of the SQLite database (users; the sessions table for sqlalchemy)
PEER_REDIS_URL     the Redis for redis
PEER_MEMCACHED     host:port of the memcached for memcached
PEER_SECRET_KEY    Flask's secret key
PEER_CHANGE        unset: stock. Otherwise the ONE setting changed from its default, so that
                   each of authdemo's choices gets its own figure:
                   no_delay            pymemcache with no_delay=True (TCP_NODELAY: Nagle off)
                   wal                 SQLite in WAL mode (PRAGMA journal_mode=WAL, nothing else)
                   write_when_changed  SESSION_REFRESH_EACH_REQUEST = False (no write-back on a read)

The client objects are the ones the Flask-Session docs show for each type:
``Redis.from_url``, a pymemcache client (the pooled one: gunicorn's threads
share it, and pymemcache's plain Client is not thread-safe), the app's own
Flask-SQLAlchemy object, and cachelib's ``SimpleCache()`` (in memory, 500
entries by default; Flask-Session's fallback without one is a FileSystemCache
in the working directory).
"""

import os
from pathlib import Path

import click
from flask import Flask, redirect, request
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user
from flask_session import Session
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from werkzeug.security import check_password_hash, generate_password_hash

SESSION_TYPES = ("redis", "memcached", "sqlalchemy", "cachelib")
CHANGES = ("", "no_delay", "wal", "write_when_changed")
DEMO_USER = ("alice", "alice-password")
DATABASE_FILE = "peer.sqlite3"
LOGIN_FORM = """<!doctype html><title>Log in</title>
<form method="post" action="/login">
  <input name="username"> <input name="password" type="password"> <button>Log in</button>
</form>"""

db = SQLAlchemy()
login_manager = LoginManager()
login_manager.login_view = "login"


class User(UserMixin, db.Model):
    """The demo user: a name and a password hash (Werkzeug's default, scrypt)."""

    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(80), unique=True, nullable=False)
    password_hash = db.Column(db.String(256), nullable=False)


@login_manager.user_loader
def load_user(user_id: str):
    """Flask-Login calls this on every request that carries a logged-in session."""
    return db.session.get(User, int(user_id))


def _setting(name: str, allowed: tuple[str, ...] | None = None, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise SystemExit(f"{name} is not set")
    if allowed is not None and value not in allowed:
        raise SystemExit(f"{name}={value!r}: choose from {', '.join(a or '(unset)' for a in allowed)}")
    return value


def _wal_on_connect(engine) -> None:
    @event.listens_for(engine, "connect")
    def set_wal(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


def create_app() -> Flask:
    """The peer for PEER_SESSION_TYPE, stock except for PEER_CHANGE."""
    session_type = _setting("PEER_SESSION_TYPE", SESSION_TYPES)
    change = _setting("PEER_CHANGE", CHANGES, "")
    data_dir = Path(_setting("PEER_DATA_DIR"))
    app = Flask(__name__)
    app.config["SECRET_KEY"] = _setting("PEER_SECRET_KEY")
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{data_dir / DATABASE_FILE}"
    app.config["SESSION_TYPE"] = session_type
    if session_type == "redis":
        from redis import Redis

        app.config["SESSION_REDIS"] = Redis.from_url(_setting("PEER_REDIS_URL"))
    elif session_type == "memcached":
        from pymemcache.client.base import PooledClient

        host, _, port = _setting("PEER_MEMCACHED").rpartition(":")
        options = {"no_delay": True} if change == "no_delay" else {}
        app.config["SESSION_MEMCACHED"] = PooledClient((host, int(port)), **options)
    elif session_type == "sqlalchemy":
        app.config["SESSION_SQLALCHEMY"] = db
    else:
        from cachelib import SimpleCache

        app.config["SESSION_CACHELIB"] = SimpleCache()
    if change == "write_when_changed":
        app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    db.init_app(app)
    if change == "wal":
        with app.app_context():
            _wal_on_connect(db.engine)
    Session(app)
    login_manager.init_app(app)
    _routes(app)
    app.cli.add_command(init_demo)
    return app


def _routes(app: Flask) -> None:
    @app.route("/healthz")
    @app.route("/bench/baseline")
    def baseline():
        """No session, no database: the yardstick (sent without a cookie)."""
        return "ok\n", 200, {"Content-Type": "text/plain"}

    @app.route("/bench/protected")
    @login_required
    def protected():
        """The smallest protected page: the session is read and the user loaded; the view changes nothing."""
        return f"{current_user.username}\n", 200, {"Content-Type": "text/plain"}

    @app.route("/login", methods=["GET", "POST"])
    def login():
        """The login form; a right password logs in and redirects to the protected page."""
        if request.method == "POST":
            user = db.session.execute(db.select(User).filter_by(username=request.form.get("username", ""))).scalar()
            if user is not None and check_password_hash(user.password_hash, request.form.get("password", "")):
                login_user(user)
                return redirect("/bench/protected")
        return LOGIN_FORM


@click.command("init-demo")
def init_demo():
    """Create the tables and the demo user alice (run once, before gunicorn starts its workers)."""
    from flask import current_app

    with current_app.app_context():
        db.create_all()
        user = db.session.execute(db.select(User).filter_by(username=DEMO_USER[0])).scalar()
        if user is None:
            user = User(username=DEMO_USER[0], password_hash="")
            db.session.add(user)
        user.password_hash = generate_password_hash(DEMO_USER[1])
        db.session.commit()
    click.echo(f"{DEMO_USER[0]} ready")


app = create_app()
