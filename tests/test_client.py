"""The command-line client keeps its tokens private, refreshes on 401, and says when to log in again."""

from __future__ import annotations

import json
import stat

from authdemo.client import main
from tests.support import MovableClock


def _run(capsys, base, token_file, *args, stdin=None, monkeypatch=None):
    if stdin is not None:
        import io

        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    status = main(["--url", base, "--token-file", str(token_file), *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_login_me_refresh_and_logout(make_app, serve, tmp_path, capsys, monkeypatch):
    clock = MovableClock()
    # 10 s moved by the clock, not 1 s: with whole-second claims a 1 s token may live ~0 s on a busy machine.
    app = make_app("jwt:sqlalchemy", clock=clock, AUTHDEMO_JWT_ACCESS_TTL="10", AUTHDEMO_JWT_LEEWAY="0")
    base = serve(app)
    token_file = tmp_path / "client" / "tokens.json"
    status, out, _ = _run(
        capsys,
        base,
        token_file,
        "login",
        "--username",
        "carol",
        "--password-stdin",
        stdin="carol-password\n",
        monkeypatch=monkeypatch,
    )
    assert status == 0 and "carol" in out
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700
    first = json.loads(token_file.read_text())
    status, out, _ = _run(capsys, base, token_file, "me")
    assert status == 0 and json.loads(out)["username"] == "carol"
    clock.advance(11)  # the access token expires: the client refreshes and saves the rotated pair
    status, out, _ = _run(capsys, base, token_file, "tasks")
    assert status == 0 and json.loads(out)["tasks"]
    assert json.loads(token_file.read_text())["refresh_token"] != first["refresh_token"]
    status, out, _ = _run(capsys, base, token_file, "logout")
    assert status == 0 and not token_file.exists()
    status, _, err = _run(capsys, base, token_file, "me")
    assert status == 1 and "Log in again" in err


def test_says_when_the_login_has_ended(make_app, serve, tmp_path, capsys, monkeypatch):
    app = make_app("jwt:memory", AUTHDEMO_JWT_ACCESS_TTL="1", AUTHDEMO_JWT_LEEWAY="0")
    base = serve(app)
    token_file = tmp_path / "tokens.json"
    _run(
        capsys,
        base,
        token_file,
        "login",
        "--username",
        "bob",
        "--password-stdin",
        stdin="bob-password\n",
        monkeypatch=monkeypatch,
    )
    saved = json.loads(token_file.read_text())
    from tests.jwt_support import Api

    Api(app).logout_all(saved["access_token"])  # "log out everywhere" from another device
    status, _, err = _run(capsys, base, token_file, "me")
    assert status == 1
    assert "Your login has ended" in err and "Log in again" in err
    assert not token_file.exists()


def test_wrong_password_and_unreachable_server(make_app, serve, tmp_path, capsys, monkeypatch):
    base = serve(make_app("jwt:memory"))
    status, _, err = _run(
        capsys,
        base,
        tmp_path / "t.json",
        "login",
        "--username",
        "bob",
        "--password-stdin",
        stdin="nope\n",
        monkeypatch=monkeypatch,
    )
    assert status == 1 and "Invalid username or password" in err
    status, _, err = _run(
        capsys,
        "http://127.0.0.1:9",
        tmp_path / "t.json",
        "login",
        "--username",
        "bob",
        "--password-stdin",
        stdin="x\n",
        monkeypatch=monkeypatch,
    )
    assert status == 2 and "Cannot reach" in err


def test_the_token_file_remembers_the_server_and_errors_name_the_address_tried(
    make_app, serve, tmp_path, capsys, monkeypatch
):
    from authdemo import tasks_api
    from tests.support import SECRET

    app = make_app("jwt:sqlalchemy")
    base = serve(app)
    token_file = tmp_path / "tokens.json"
    login = ["login", "--username", "carol", "--password-stdin"]
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("carol-password\n"))
    assert main(["--url", base, "--token-file", str(token_file), *login]) == 0
    assert json.loads(token_file.read_text())["server"] == base
    capsys.readouterr()

    # No --url: the client goes back to the server that issued the tokens.
    assert main(["--token-file", str(token_file), "me"]) == 0
    assert json.loads(capsys.readouterr().out)["username"] == "carol"

    # A tasks service that does not answer: the error names it, not the app.
    dead = "http://127.0.0.1:9/tasks"
    assert main(["--token-file", str(token_file), "tasks", "--tasks-url", dead]) == 2
    err = capsys.readouterr().err
    assert f"Cannot reach {dead}" in err and base not in err

    # A real one: its own, shorter list, and the client says why.
    service = tasks_api.create_app(
        {
            "AUTHDEMO_SECRET_KEY": SECRET,
            "AUTHDEMO_INSTANCE_PATH": str(tmp_path / "svc"),
            "AUTHDEMO_TOKEN_STORE": "memory",
        }
    )
    service_base = serve(service)
    assert main(["--token-file", str(token_file), "tasks", "--tasks-url", f"{service_base}/tasks"]) == 0
    captured = capsys.readouterr()
    from_service = json.loads(captured.out)["tasks"]
    assert main(["--token-file", str(token_file), "tasks"]) == 0
    from_app = json.loads(capsys.readouterr().out)["tasks"]
    assert len(from_service) < len(from_app)
    assert "its own list, not the app's" in captured.err
