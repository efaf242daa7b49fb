"""Forms: every one carries Flask-WTF's hidden csrf_token."""

import secrets

from flask import Flask, current_app, g, request, session
from flask_wtf import FlaskForm
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


def rotate_csrf() -> None:
    """A new CSRF secret from here on (login, logout): a token read before no longer validates.

    Made now, as Flask-WTF would on the next page, so that page does not write the session again.
    """
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    session[field] = secrets.token_hex(32)
    g.pop(field, None)


def check_csrf_on_unsafe_methods_only(app: Flask, csrf) -> None:
    """CSRFProtect's check, asked only for the methods it protects.

    Flask-WTF 1.3 looks up the view's exemptions before it looks at the
    method, on every GET too; here a GET costs one set lookup. Registered
    right after ``csrf.init_app``, so it runs where Flask-WTF's own did.
    """
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # Flask-WTF's hook then returns at once
    methods = app.config["WTF_CSRF_METHODS"]

    @app.before_request
    def _csrf_protect():
        if request.method in methods and app.config["WTF_CSRF_ENABLED"]:
            csrf.protect(apply_exemptions=True)
