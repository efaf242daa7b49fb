"""The token-only pages (jwt mode): the tamper demo beside the account page's token inspector."""

from __future__ import annotations

import json

from flask import Blueprint, abort, render_template, request
from flask_login import login_required

from ..forms import ConfirmForm
from ..login import get_login_backend
from . import get_service as _service
from .browser import current_access_token
from .tamper import SIGNATURES, TAMPERS, BadEdit, claims_of, diff, forge, parse_payload, plain_reason, preset
from .verify import InvalidToken

bp = Blueprint("tokens", __name__, url_prefix="/account")


def _judge(token: str) -> tuple[int, str]:
    """(status, plain words) for a token, as the server's check answers it."""
    try:
        _service().verify(token, "access")
    except InvalidToken as error:
        return 401, plain_reason(error.reason, _service().keys.algorithm)
    return 200, "the signature matches and nothing has expired or been revoked."


@bp.route("/tamper", methods=["POST"])
@login_required
def tamper_token():
    """Change this browser's token as an attacker would (a preset or my edit); show how the server answers."""
    token = current_access_token()
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
    backend = get_login_backend()
    page = {**backend.describe(), "editor": result["payload_text"], "result": result}
    return render_template(backend.inspector_template, **page, form=ConfirmForm())
