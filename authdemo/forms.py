"""Forms: every one carries Flask-WTF's hidden csrf_token."""

import secrets

from flask import current_app, g, session
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
