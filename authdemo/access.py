"""What a change to an account does to its live sessions and tokens, done before the change's request returns.

Called by the admin page and the ``users`` commands, after their commit or
through ``disable_account`` / ``delete_account``, which commit first:

- roles or direct grants changed: every session of the user gets the new
  identity (session mode, through the per-user index), and the user's
  authorization version is raised, so access tokens minted before are
  refused on their next use (both modes: the API serves bearer tokens in either);
- account disabled or deleted: every session and every token of the user ends.
"""

from __future__ import annotations

from flask import current_app

from .extensions import db
from .login import get_login_backend
from .models import User, load_identity
from .tokens import get_service


def _session_mode() -> bool:
    return current_app.extensions["authdemo_settings"].auth_mode == "session"


def identity_changed(user_id: str) -> int:
    """The user's roles or grants changed (committed): sessions rewritten, tokens stale; how many sessions."""
    identity = load_identity(int(user_id))
    if identity is None:  # disabled or gone meanwhile
        return account_ended(user_id)
    updated = get_login_backend().update_identity(user_id, identity)  # JWT mode: nothing to rewrite
    get_service().authorization_changed(user_id)
    return updated


def account_ended(user_id: str) -> int:
    """The account was disabled or deleted (committed): every session and token of it ends; how many sessions."""
    from . import reasons

    reasons.bury(reasons.live_handles(user_id), reasons.ACCOUNT_DISABLED)  # its devices are told why
    # JWT mode's end_all is the token service's logout_everywhere below: not twice.
    ended = get_login_backend().end_all(user_id) if _session_mode() else 0
    return ended + get_service().logout_everywhere(user_id)


def disable_account(user: User) -> int:
    """Disable ``user`` (committed), then end every session and token of it; how many ended."""
    user.disabled = True
    db.session.commit()
    return account_ended(str(user.id))


def delete_account(user: User) -> int:
    """Delete ``user``'s row (committed), then end every session and token of it; how many ended."""
    user_id = str(user.id)
    db.session.delete(user)
    db.session.commit()
    return account_ended(user_id)
