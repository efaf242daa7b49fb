"""The account page with its inspector, and the list of active sessions."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required

from . import events
from .events import record
from .extensions import db
from .forms import ConfirmForm
from .sessions import get_manager
from .sessions.codec import META_KEY, decode
from .sessions.manager import public_handle
from .tokens import get_service
from .tokens.browser import cookie_names
from .tokens.tamper import SIGNATURES, TAMPERS, BadEdit, claims_of, diff, forge, parse_payload, plain_reason, preset
from .tokens.verify import InvalidToken, unverified_parts
from .wire import mask, unwrap

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.after_request
def _no_store(response):
    """These pages show session contents: no cache may keep a copy."""
    response.headers["Cache-Control"] = "no-store"
    return response


COOKIE_LIMIT = 4096  # bytes a browser keeps per cookie (name, value and attributes)
SECRET_FIELDS = {"csrf_token"}
#: Fields that are keys to something: shown masked, like cookies.
MASKED_FIELDS = {"_sid"}
#: What each field of a session is for.
FIELD_NOTES = {
    "_user_id": "Who you are: Flask-Login's key for the logged-in user (your user id).",
    "_fresh": "Flask-Login: true when this session began with your password (not restored from a remember-me "
    "cookie). Pages marked fresh_login_required ask for the password again when it is false.",
    "_id": "Flask-Login's session protection: a hash of your address and browser string, taken at login. "
    "In its default 'basic' mode a request whose hash differs marks the session not fresh.",
    "_meta": "authdemo's own: when the session was created and last seen, from which address and browser. "
    "It feeds the sessions page; it is written back at most once a minute.",
    "_sid": "The id of this login's record on the server (masked): deleting the record ends this cookie, "
    "copies included.",
    "_flashes": "Messages waiting to be shown on the next page.",
    "csrf_token": "The secret behind the forms' hidden csrf_token field (never shown).",
}


def human_time(timestamp: float | None, now: float | None = None) -> str:
    """A Unix time as a date, a clock time and how long ago or ahead: 2026-11-30 22:41:07 UTC (3 min ago)."""
    if not timestamp:
        return "unknown"
    now = time.time() if now is None else now
    when = datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{when} ({human_duration(timestamp - now)})"


def human_duration(seconds: float) -> str:
    """``in 4 min`` or ``3 h ago``."""
    size = abs(seconds)
    for unit, length in (("d", 86400), ("h", 3600), ("min", 60)):
        if size >= length:
            amount = f"{size / length:.0f} {unit}"
            break
    else:
        amount = f"{size:.0f} s"
    return f"in {amount}" if seconds >= 0 else f"{amount} ago"


@bp.app_template_filter("human_time")
def _human_time_filter(timestamp) -> str:
    return human_time(timestamp)


def fields(data: dict | None) -> list[dict]:
    """A session's fields for display: value (masked or hidden where it is a secret) and what it is for."""
    rows = []
    for key, value in (data or {}).items():
        if key in SECRET_FIELDS:
            shown = "(secret, not shown)"
        elif key in MASKED_FIELDS and isinstance(value, str):
            shown = mask(value)
        elif key == META_KEY and isinstance(value, dict):
            shown = {
                name: human_time(item) if name in ("created", "last_seen") else item for name, item in value.items()
            }
        else:
            shown = value
        rows.append({"key": key, "value": shown, "note": FIELD_NOTES.get(key, "")})
    return rows


def store_ttl(store, sid: str, meta: dict, idle_timeout: int) -> tuple[float | None, str]:
    """Seconds the store itself will keep this session, and where that figure comes from."""
    target = unwrap(store)
    try:
        if target.name == "redis":
            from .sessions.redis import SESSION_KEY

            milliseconds = target.client.pttl(SESSION_KEY.format(sid))
            if milliseconds >= 0:
                return milliseconds / 1000, "Redis's own TTL for the key (PTTL)"
        elif target.name == "memory":
            return target._entries[sid][0] - time.time(), "the expiry time the memory store keeps beside the entry"
        elif target.name != "memcached":
            from .models import SessionRecord

            row = db.session.get(SessionRecord, sid)
            if row is not None:
                return row.expires_at - time.time(), "the row's expires_at column"
    except (AttributeError, KeyError, TypeError, LookupError):
        pass  # a store without that detail: fall back to what it was told
    last_seen = meta.get("last_seen")
    if not last_seen:
        return None, "unknown"
    return (
        last_seen + idle_timeout - time.time(),
        "the TTL the store was given at the last write (Memcached cannot report a key's remaining TTL)",
    )


@bp.route("")
@login_required
def account():
    """User, roles, permissions; one column for what the browser holds, one for what the server holds."""
    settings = current_app.extensions["authdemo_settings"]
    if settings.auth_mode == "jwt":
        return _token_account()
    manager = get_manager()
    cookie_name = current_app.config["SESSION_COOKIE_NAME"]
    cookie_value = request.cookies.get(cookie_name, "")
    sid = manager.current_sid()
    raw = manager.store.load(sid) if sid else None
    stored = decode(raw) if raw is not None else None
    meta = (stored or {}).get(META_KEY) or {}
    ttl, ttl_source = store_ttl(manager.store, sid, meta, settings.session_idle_timeout) if stored else (None, "")
    return render_template(
        "account/account.html",
        backend=manager.backend,
        store=manager.store,
        cookie_name=cookie_name,
        cookie_masked=mask(cookie_value),
        cookie_size=len(cookie_name) + 1 + len(cookie_value),
        cookie_limit=COOKIE_LIMIT,
        cookie_secure=bool(current_app.config["SESSION_COOKIE_SECURE"] or request.is_secure),
        cookie_fields=fields(dict(session)) if manager.backend == "cookie" else None,
        server_fields=fields(stored) if stored is not None else None,
        server_record_size=len(raw) if raw is not None else 0,
        handle=public_handle(sid) if sid else None,
        ttl=ttl,
        ttl_source=ttl_source,
        idle_timeout=settings.session_idle_timeout,
        human_duration=human_duration,
        form=ConfirmForm(),
    )


@bp.route("/sessions")
@login_required
def sessions():
    """Every active session of this user, with a button to end each."""
    manager = get_manager()
    return render_template(
        "account/sessions.html",
        sessions=manager.list_for_user(current_user.get_id(), manager.current_sid()),
        backend=manager.backend,
        form=ConfirmForm(),
    )


@bp.route("/sessions/<handle>/revoke", methods=["POST"])
@login_required
def revoke(handle: str):
    """End one session of this user; ending the current one logs out here."""
    manager = get_manager()
    sid = manager.current_sid()
    user_id, username = current_user.get_id(), current_user.username
    if sid and manager.is_handle(sid, handle):
        record("logout", user_id=user_id, username=username, session_key=sid, detail="from the sessions page")
        manager.end_current()
        flash("This session has ended; you are logged out.", "info")
        return redirect(url_for("auth.login"))
    if manager.end(user_id, handle):
        record("session_ended", user_id=user_id, username=username, session_key=sid, detail=f"ended {handle}")
        flash("The session has ended.", "info")
    else:
        flash("No such session (it may have ended already).", "warning")
    return redirect(url_for("account.sessions"))


@bp.route("/activity")
@login_required
def activity():
    """This user's own auth events: logins (failed ones too), logouts, sessions ended, tokens."""
    return render_template("account/activity.html", events=events.query(user_id=current_user.get_id(), limit=100))


def _current_access_token() -> str:
    pair = g.get("new_pair")
    return pair.access_token if pair is not None else request.cookies.get(cookie_names()[0], "")


def _token_account(result: dict | None = None, status: int = 200):
    """JWT mode: the access token decoded (header, payload, masked signature), its times, and the tamper demo."""
    token = _current_access_token()
    header, payload = unverified_parts(token)
    parts = token.split(".")
    now = time.time()
    times = [
        {"claim": claim, "value": payload[claim], "human": human_time(payload[claim], now)}
        for claim in ("iat", "nbf", "exp")
        if isinstance(payload.get(claim), int)
    ]
    editor = result["payload_text"] if result else json.dumps(payload, indent=2)
    return (
        render_template(
            "account/tokens.html",
            parts=parts,
            signature_masked=mask(parts[2]),
            header=header,
            payload=payload,
            times=times,
            cookie_name=cookie_names()[0],
            token_size=len(cookie_names()[0]) + 1 + len(token),
            cookie_limit=COOKIE_LIMIT,
            seconds_left=max(0, payload["exp"] - int(now)),
            algorithm=get_service().keys.algorithm,
            tampers={key: label for key, (label, _) in TAMPERS.items()},
            signatures=SIGNATURES,
            editor=editor,
            result=result,
            form=ConfirmForm(),
        ),
        status,
    )


def _judge(token: str) -> tuple[int, str]:
    """(status, plain words) for a token, as the server's check answers it."""
    try:
        get_service().verify(token, "access")
    except InvalidToken as error:
        return 401, plain_reason(error.reason, get_service().keys.algorithm)
    return 200, "the signature matches and nothing has expired or been revoked."


@bp.route("/tamper", methods=["POST"])
@login_required
def tamper_token():
    """Change this browser's token as an attacker would (a preset or my edit); show how the server answers."""
    if current_app.extensions["authdemo_settings"].auth_mode != "jwt":
        abort(404)
    token = _current_access_token()
    original = claims_of(token)
    choice = request.form.get("change", "")
    if choice in TAMPERS:
        claims, signature = preset(token, choice)
    elif choice == "edit":
        signature = request.form.get("signature", "keep")
        if signature not in SIGNATURES:
            abort(400, description="Choose one of the listed signature treatments.")
        try:
            claims = parse_payload(request.form.get("payload", ""))
        except BadEdit as error:
            abort(400, description=str(error))
    else:
        abort(400, description="Choose one of the listed changes, or edit the payload.")
    tampered = forge(token, claims, signature)
    status, reason = _judge(tampered)
    control_status, control_reason = _judge(token)
    if tampered == token:
        verdict = (
            f"Unchanged: this edit leaves your token byte for byte as it was (your account already has it), "
            f"so the server accepts it with {status}, like the control."
        )
    elif status == 401:
        verdict = f"Refused with 401: {reason}"
    else:
        verdict = "ACCEPTED — this would be a vulnerability."
    result = {
        "choice": choice,
        "signature": signature,
        "changes": diff(original, claims),
        "tampered_parts": tampered.split("."),
        "status": status,
        "verdict": verdict,
        "control_status": control_status,
        "control": f"Accepted with {control_status}: {control_reason}"
        if control_status == 200
        else f"Refused with {control_status}: {control_reason}",
        "payload_text": json.dumps(claims, indent=2),
    }
    return _token_account(result)
