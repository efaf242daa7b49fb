"""Users, roles and permissions (users *–* roles *–* permissions, plus direct grants)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_login import AnonymousUserMixin, LoginManager, UserMixin
from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Integer, LargeBinary, String, Table
from sqlalchemy.orm import Mapped, joinedload, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db

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

    def can(self, permission: str) -> bool:
        """Whether the user holds the permission."""
        return permission in self.permission_names

    @classmethod
    def authenticate(cls, username: str, password: str) -> User | None:
        """The user if the credentials match; equal work whether or not the name exists."""
        # No stored name holds a NUL, and PostgreSQL refuses one in a query: treat it as unknown.
        known = "\x00" not in username
        user = db.session.execute(db.select(cls).filter_by(username=username)).scalar_one_or_none() if known else None
        if user is None:
            check_password_hash(_DUMMY_HASH, password)
            return None
        return user if user.check_password(password) else None

    @classmethod
    def load(cls, user_id: int) -> User | None:
        """Load a user with roles and permissions in one query."""
        # One query with joins, not four: this runs on every logged-in request.
        query = (
            db.select(cls)
            .where(cls.id == user_id)
            .options(joinedload(cls.roles).joinedload(Role.permissions), joinedload(cls.direct_permissions))
        )
        return db.session.execute(query).unique().scalar_one_or_none()


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


def _load_user(user_id: str) -> User | None:
    try:
        return User.load(int(user_id))
    except (TypeError, ValueError):
        return None


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
)
