"""Forms: every one carries Flask-WTF's hidden csrf_token."""

import secrets

from flask import Flask, current_app, g, request, session
from flask_wtf import FlaskForm
from flask_wtf.csrf import generate_csrf
from wtforms import HiddenField, PasswordField, SelectMultipleField, StringField, SubmitField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget


class LoginForm(FlaskForm):
    """Username and password; ``next`` is where to go afterwards (checked before use)."""

    username = StringField("Username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    next = HiddenField()
    submit = SubmitField("Log in")


class ConfirmForm(FlaskForm):
    """A button that POSTs: logout, log out everywhere, end a session."""

    submit = SubmitField("Confirm")


def _checkboxes(label: str) -> SelectMultipleField:
    return SelectMultipleField(label, coerce=str, option_widget=CheckboxInput(), widget=ListWidget(prefix_label=False))


class UserAccessForm(FlaskForm):
    """An admin's choice of roles, and of permissions granted directly, for one user."""

    roles = _checkboxes("Roles")
    permissions = _checkboxes("Granted directly")
    submit = SubmitField("Save")


#: The signed form token kept beside the secret it signs: [secret, token].
SIGNED_CSRF_KEY = "_csrf_signed"


def rotate_csrf() -> None:
    """A new CSRF secret from here on (login, logout): a token read before no longer validates.

    Made now, with its signed form token, as the next page would make them,
    so that page does not write the session again.
    """
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    session[field] = secrets.token_hex(32)
    g.pop(field, None)
    session[SIGNED_CSRF_KEY] = [session[field], generate_csrf()]


def form_csrf_token() -> str:
    """The token for a form's hidden field: signed once per secret and kept in the session, not on every page.

    Flask-WTF signs the secret again on every page that shows a form, and
    every page shows the logout form (~10 % of /reports in the profile). Its
    tokens carry no time limit here (WTF_CSRF_TIME_LIMIT is None), so one
    signed token serves until the secret rotates; validation is Flask-WTF's own.
    """
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    token = g.get(field)
    if token is not None:
        return token
    kept = session.get(SIGNED_CSRF_KEY)
    secret = session.get(field)
    if isinstance(kept, list) and len(kept) == 2 and secret is not None and kept[0] == secret:
        setattr(g, field, kept[1])
        return kept[1]
    token = generate_csrf()
    session[SIGNED_CSRF_KEY] = [session[field], token]
    return token


def init_csrf(app: Flask, csrf) -> None:
    """CSRFProtect's check asked only for the methods it protects, and the form token signed once per secret.

    Flask-WTF 1.3 looks up the view's exemptions before it looks at the
    method, on every GET too; here a GET costs one set lookup. Called right
    after ``csrf.init_app``, so the check runs where Flask-WTF's own did,
    and templates get ``form_csrf_token`` as ``csrf_token``.
    """
    app.jinja_env.globals["csrf_token"] = form_csrf_token
    app.context_processor(lambda: {"csrf_token": form_csrf_token})  # after Flask-WTF's: this one wins
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # Flask-WTF's hook then returns at once
    methods = app.config["WTF_CSRF_METHODS"]

    @app.before_request
    def _csrf_protect():
        if request.method in methods and app.config["WTF_CSRF_ENABLED"]:
            csrf.protect(apply_exemptions=True)
