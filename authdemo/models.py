"""Users, roles and permissions (users *–* roles *–* permissions, plus direct grants)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from flask_login import AnonymousUserMixin, LoginManager, UserMixin
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    bindparam,
    false,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db
from .wire import record

user_roles = Table(
    "user_roles",
    db.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
)
role_permissions = Table(
    "role_permissions",
    db.metadata,
    Column("role_id", ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
    Column("permission_id", ForeignKey("permissions.id", ondelete="CASCADE"), primary_key=True),
)
user_permissions = Table(
    "user_permissions",
    db.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("permission_id", ForeignKey("permissions.id", ondelete="CASCADE"), primary_key=True),
)

# A real hash to compare against when the account does not exist, so a failed
# login takes the same time whether or not the username is known.
_DUMMY_HASH = generate_password_hash("not-a-real-password", method="scrypt")


class Permission(db.Model):
    """A named capability such as ``reports.view``."""

    __tablename__ = "permissions"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(200), default="")


class Role(db.Model):
    """A named bundle of permissions."""

    __tablename__ = "roles"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    permissions: Mapped[list[Permission]] = relationship(secondary=role_permissions, order_by=Permission.name)


class User(UserMixin, db.Model):
    """An account; its effective permissions are its roles' plus its direct grants."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=lambda: datetime.now(UTC))
    # A disabled account keeps its row (and its history) but cannot log in, and its sessions end.
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    roles: Mapped[list[Role]] = relationship(secondary=user_roles, order_by=Role.name)
    direct_permissions: Mapped[list[Permission]] = relationship(secondary=user_permissions, order_by=Permission.name)

    def set_password(self, password: str) -> None:
        """Store a salted scrypt hash, never the password."""
        self.password_hash = generate_password_hash(password, method="scrypt")

    def check_password(self, password: str) -> bool:
        """Whether the password matches the stored hash."""
        return check_password_hash(self.password_hash, password)

    @property
    def permission_names(self) -> set[str]:
        """Effective permissions: from every role, plus those granted directly."""
        names = {p.name for p in self.direct_permissions}
        for role in self.roles:
            names.update(p.name for p in role.permissions)
        return names

    @classmethod
    def authenticate(cls, username: str, password: str) -> User | None:
        """The user if the credentials match; equal work whether or not the name exists."""
        # No stored name holds a NUL, and PostgreSQL refuses one in a query: treat it as unknown.
        known = "\x00" not in username
        with record("database", "SELECT user by name") as item:
            query = db.select(cls).filter_by(username=username)
            user = db.session.execute(query).scalar_one_or_none() if known else None
            item["result"] = "miss" if user is None else "hit"
        with record("flask", "scrypt password check") as item:
            if user is None:
                check_password_hash(_DUMMY_HASH, password)  # the same work for a name that does not exist
                item["result"] = "no such user"
                return None
            item["result"] = "match" if user.check_password(password) else "no match"
        # A disabled account is checked like any other, so the answer takes the same time.
        return user if item["result"] == "match" and not user.disabled else None


@dataclass(frozen=True, eq=False)
class Identity(UserMixin):
    """Who is logged in, as a request needs it: a plain value, not an ORM object.

    Session mode reads it from the session record the store already returned
    (written at login, rewritten when an admin changes the user); JWT mode
    builds it from the access token's claims. Neither queries the database.
    """

    id: str
    username: str
    role_names: tuple[str, ...]
    permission_names: frozenset[str]
    direct_permission_names: tuple[str, ...] = ()

    def can(self, permission: str) -> bool:
        """Whether the user holds the permission."""
        return permission in self.permission_names

    def as_record(self, version: str | None = None) -> dict:
        """What the session keeps (msgpack and JSON both carry it); ``version`` is the authorization version."""
        return {
            "id": self.id,
            "name": self.username,
            "roles": list(self.role_names),
            "perms": sorted(self.permission_names),
            "direct": list(self.direct_permission_names),
            "v": version,
        }

    @classmethod
    def from_record(cls, record: dict) -> Identity:
        """The identity a session holds (see ``as_record``)."""
        return cls(
            id=record["id"],
            username=record["name"],
            role_names=tuple(record["roles"]),
            permission_names=frozenset(record["perms"]),
            direct_permission_names=tuple(record.get("direct") or ()),
        )


@cache
def _identity_query():
    """The UNION ALL of the role path and the direct grants, built once (building it cost more than running it)."""
    users, roles, permissions = User.__table__, Role.__table__, Permission.__table__
    user_id = bindparam("user_id")
    via_roles = (
        select(users.c.username, literal("role").label("kind"), roles.c.name.label("role"), permissions.c.name)
        .select_from(
            users.outerjoin(user_roles, user_roles.c.user_id == users.c.id)
            .outerjoin(roles, roles.c.id == user_roles.c.role_id)
            .outerjoin(role_permissions, role_permissions.c.role_id == roles.c.id)
            .outerjoin(permissions, permissions.c.id == role_permissions.c.permission_id)
        )
        .where(users.c.id == user_id, users.c.disabled.is_(False))
    )
    direct = (
        select(users.c.username, literal("direct"), null(), permissions.c.name)
        .select_from(
            users.join(user_permissions, user_permissions.c.user_id == users.c.id).join(
                permissions, permissions.c.id == user_permissions.c.permission_id
            )
        )
        .where(users.c.id == user_id, users.c.disabled.is_(False))
    )
    return union_all(via_roles, direct)


def load_identity(user_id: int) -> Identity | None:
    """The user's name, roles and effective permissions in one query; None if unknown or disabled.

    Run at login, at a token refresh, and when an admin changes the user:
    never on a plain logged-in request. SQL Core on the request's connection.
    """
    with record("database", "SELECT user, roles, permissions") as item:
        rows = db.session.connection().execute(_identity_query(), {"user_id": user_id}).all()
        item["result"] = f"{len(rows)} rows"
    if not rows:
        return None
    return Identity(
        id=str(user_id),
        username=rows[0][0],
        role_names=tuple(sorted({row[2] for row in rows if row[1] == "role" and row[2]})),
        permission_names=frozenset(row[3] for row in rows if row[3]),
        direct_permission_names=tuple(sorted({row[3] for row in rows if row[1] == "direct"})),
    )


class AnonymousUser(AnonymousUserMixin):
    """The visitor who is not logged in: holds no permission."""

    permission_names: set[str] = set()

    def can(self, permission: str) -> bool:
        """Anonymous visitors hold no permission."""
        return False


def init_login(login_manager: LoginManager) -> None:
    """Tell Flask-Login how to load users and what an anonymous visitor is."""
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to see that page."
    login_manager.anonymous_user = AnonymousUser
    login_manager.user_loader(_load_user)
    # "Session protection" hashes the client's address and browser on every
    # request (~10 µs) to notice a session used from elsewhere, and then only
    # marks it non-fresh, which nothing here reads. The session id rotates at
    # login instead, and the sessions page shows where each session is used.
    # Flask-Login computes the hash before it reads the setting, so the generator goes too.
    login_manager.session_protection = None
    login_manager._session_identifier_generator = str


def _load_user(user_id: str) -> Identity | None:
    # Session mode only (JWT mode loads from the token's claims): the identity the session holds.
    from .sessions.manager import load_user

    return load_user(user_id)


class SessionRecord(db.Model):
    """One server-side session: the sqlalchemy store's rows, and the cookie store's records.

    ``user_id`` is an indexed column (as in Django) so "every session of a
    user" is one query rather than a scan of decoded blobs.
    """

    __tablename__ = "sessions"
    sid: Mapped[str] = mapped_column(String(128), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[int] = mapped_column(Integer, index=True)
    user_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)


# The sqlalchemy token store's tables (see tokens/store.py for what each holds).
token_denylist = Table(
    "token_denylist",
    db.metadata,
    Column("jti", String(64), primary_key=True),
    Column("expires_at", Integer, nullable=False, index=True),
)
token_families = Table(
    "token_families",
    db.metadata,
    Column("family_id", String(64), primary_key=True),
    Column("user_id", String(64), nullable=False, index=True),
    Column("refresh_jti", String(64), nullable=False),
    Column("access_jti", String(64), nullable=False),
    Column("access_expires_at", Integer, nullable=False),
    Column("expires_at", Integer, nullable=False, index=True),
    Column("created", Integer, nullable=False),
    Column("last_refresh", Integer, nullable=False),
    Column("device", String(200), nullable=False, default=""),
    Column("ip", String(64), nullable=False, default=""),
    Column("revoked", Boolean, nullable=False, default=False),
)
token_versions = Table(
    "token_versions",
    db.metadata,
    Column("user_id", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    # Raised when an admin changes the user's roles or grants: access tokens minted before are stale.
    Column("authz_version", Integer, nullable=False, default=0, server_default="0"),
)


class AuthEvent(db.Model):
    """One authentication event (login, logout, a token refreshed …): the log of /account/activity and /admin/events.

    Never a password and never a credential: the session id and the token
    family appear only as a short hash (the handle the sessions page shows).
    """

    __tablename__ = "auth_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    time: Mapped[float] = mapped_column(Float, index=True)  # Unix seconds: purge and ordering are one comparison
    type: Mapped[str] = mapped_column(String(32), index=True)
    user_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    username: Mapped[str] = mapped_column(String(64), default="")  # the name as typed, for a failed login
    address: Mapped[str] = mapped_column(String(64), default="")
    browser: Mapped[str] = mapped_column(String(200), default="")
    mode: Mapped[str] = mapped_column(String(16), default="")
    store: Mapped[str] = mapped_column(String(32), default="")
    session_hash: Mapped[str] = mapped_column(String(32), default="")
    detail: Mapped[str] = mapped_column(String(500), default="")

    def as_dict(self) -> dict:
        """The JSON shape of /admin/events.json and of the log line."""
        return {
            "id": self.id,
            "time": self.time,
            "type": self.type,
            "user_id": self.user_id,
            "username": self.username,
            "address": self.address,
            "browser": self.browser,
            "mode": self.mode,
            "store": self.store,
            "session": self.session_hash,
            "detail": self.detail,
        }
