"""``mco security``: keygen, issue and inspect, with the errors users will meet."""

from __future__ import annotations

import io
import json
import os
import stat
import time
from pathlib import Path

import pytest
from jwt_helpers import ALICE, ISSUER, OTHER_ISSUER, client_token, server_token, write_issuer

from mcollective.cli.main import main as mco_main
from mcollective.plugins import make_plugin_manager
from mcollective_security_jwt import keys, tokens
from mcollective_security_jwt.app import Security


class Run:
    """The outcome of one ``mco security`` run."""

    def __init__(self, *argv: str) -> None:
        out, err = io.StringIO(), io.StringIO()
        app = Security(make_plugin_manager(load_entrypoints=False), stdout=out, stderr=err)
        self.code = app.run(list(argv))
        self.out, self.err = out.getvalue(), err.getvalue()

    def ok(self) -> Run:
        assert self.code == 0, f"exit {self.code}\n{self.out}\n{self.err}"
        return self


@pytest.fixture
def issuer(tmp_path: Path) -> Path:
    """The issuer's private key file (its public key is beside it, ``.pub``)."""
    write_issuer(tmp_path)
    return tmp_path / "issuer.key"


def _issue_client(issuer: Path, out: Path, *extra: str) -> Run:
    keys.write_key_pair(out.with_suffix(".key"), ALICE, force=True)
    return Run("issue", "client", "--issuer-key", str(issuer), "--caller", "alice",
               "--agents", "rpcutil.*,package.status", "--public-key",
               str(out.with_suffix(".key.pub")), "--out", str(out), *extra)


# --- keygen ---------------------------------------------------------------------------


def test_keygen(tmp_path: Path) -> None:
    run = Run("keygen", "--out", str(tmp_path / "alice.key")).ok()
    public = run.out.strip()
    assert len(public) == 64
    assert (tmp_path / "alice.key.pub").read_text().strip() == public
    key = keys.load_private_key(tmp_path / "alice.key")
    assert keys.public_hex(key) == public
    if os.name != "nt":
        assert stat.S_IMODE((tmp_path / "alice.key").stat().st_mode) == 0o600
    assert "mode 0600" in run.err

    again = Run("keygen", "--out", str(tmp_path / "alice.key"))
    assert again.code == 1 and "--force" in again.err
    assert keys.public_hex(keys.load_private_key(tmp_path / "alice.key")) == public
    Run("keygen", "--out", str(tmp_path / "alice.key"), "--force").ok()
    assert (tmp_path / "alice.key.pub").read_text().strip() != public


# --- issue ----------------------------------------------------------------------------


def test_issue_client_and_inspect(tmp_path: Path, issuer: Path) -> None:
    run = _issue_client(issuer, tmp_path / "alice.token", "--validity", "2h").ok()
    assert "issued client token of jwt=alice" in run.err
    token = tokens.Issuers([ISSUER.public_key()]).verify(
        (tmp_path / "alice.token").read_text())
    assert token.callerid == "jwt=alice"
    assert token.agents == ("rpcutil.*", "package.status")
    assert token.public_key_hex == keys.public_hex(ALICE)
    assert token.expires - token.not_before == 7200

    shown = Run("inspect", str(tmp_path / "alice.token"), "--issuer-public-key",
                str(tmp_path / "issuer.key.pub")).ok()
    assert "jwt=alice" in shown.out
    assert "rpcutil.*, package.status (and discovery)" in shown.out
    assert "OK, a trusted issuer" in shown.out
    assert "status:      valid" in shown.out


def test_issue_server_to_stdout(tmp_path: Path, issuer: Path) -> None:
    run = Run("issue", "server", "--issuer-key", str(issuer), "--identity", "node1",
              "--collectives", "mcollective,eu", "--public-key", keys.public_hex(ALICE)).ok()
    token = tokens.parse(run.out.strip())
    assert token.purpose == "server" and token.identity == "node1"
    assert token.collectives == ("mcollective", "eu")
    assert token.expires - token.not_before == 90 * 86400  # the server default
    shown = Run("inspect", run.out.strip()).ok()  # inline token, issuer not checked
    assert "identity:    node1" in shown.out
    assert "issuer not checked" in shown.out


@pytest.mark.parametrize(("args", "message"), [
    (("--agents", "rpcutil"), "did you mean 'rpcutil.*'"),
    (("--caller", "alice smith"), "does not match"),
    (("--public-key", "abc"), "neither a public key"),
])
def test_issue_errors(tmp_path: Path, issuer: Path, args: tuple[str, str],
                      message: str) -> None:
    base = {"--caller": "alice", "--agents": "*", "--public-key": keys.public_hex(ALICE)}
    base[args[0]] = args[1]
    argv = ["issue", "client", "--issuer-key", str(issuer)]
    for key, value in base.items():
        argv += [key, value]
    run = Run(*argv)
    assert run.code == 1
    assert message in run.err


def test_issue_refuses_an_unprotected_issuer_key(tmp_path: Path, issuer: Path) -> None:
    if os.name == "nt":
        pytest.skip("POSIX permissions")
    issuer.chmod(0o644)
    run = _issue_client(issuer, tmp_path / "alice.token")
    assert run.code == 1 and "chmod 600" in run.err


def test_issue_does_not_overwrite_tokens(tmp_path: Path, issuer: Path) -> None:
    _issue_client(issuer, tmp_path / "alice.token").ok()
    assert _issue_client(issuer, tmp_path / "alice.token").code == 1
    _issue_client(issuer, tmp_path / "alice.token", "--force").ok()


def test_bad_validity_is_a_usage_error(tmp_path: Path, issuer: Path) -> None:
    with pytest.raises(SystemExit) as info:
        _issue_client(issuer, tmp_path / "t", "--validity", "soon")
    assert info.value.code == 2


# --- inspect: problems, each with what to do ------------------------------------------


def _write(tmp_path: Path, raw: str) -> str:
    path = tmp_path / "some.token"
    path.write_text(raw + "\n")
    return str(path)


def test_inspect_expired(tmp_path: Path) -> None:
    run = Run("inspect", _write(tmp_path, client_token(now=time.time() - 7200)))
    assert run.code == 1
    assert "UNUSABLE: expired" in run.out
    assert "expired at" in run.err and "mco security issue client" in run.err


def test_inspect_not_yet_valid(tmp_path: Path) -> None:
    run = Run("inspect", _write(tmp_path, server_token(now=time.time() + 7200)))
    assert run.code == 1
    assert "not valid before" in run.err and "clock" in run.err


def test_inspect_wrong_issuer(tmp_path: Path) -> None:
    write_issuer(tmp_path)
    run = Run("inspect", _write(tmp_path, client_token(issuer=OTHER_ISSUER)),
              "--issuer-public-key", str(tmp_path / "issuer.key.pub"))
    assert run.code == 1
    assert "NOT a trusted issuer" in run.out
    assert "not a trusted issuer" in run.err and "plugin.jwt.issuer_public_key" in run.err


def test_inspect_forged(tmp_path: Path) -> None:
    import jwt

    claims = jwt.decode(client_token(), options={"verify_signature": False})
    claims["agents"] = ["*"]
    forged = jwt.encode(claims, OTHER_ISSUER, algorithm="EdDSA")
    run = Run("inspect", _write(tmp_path, forged), "--issuer-public-key",
              keys.public_hex(ISSUER))
    assert run.code == 1 and "FORGED" in run.out and "forged or altered" in run.err


@pytest.mark.parametrize("raw", ["a.b.c", "eyJhbGciOiJub25lIn0.e30."])
def test_inspect_malformed(tmp_path: Path, raw: str) -> None:
    run = Run("inspect", _write(tmp_path, raw))
    assert run.code == 1
    assert "cannot be used, issue a new one" in run.err


def test_inspect_neither_token_nor_file() -> None:
    run = Run("inspect", "/nonexistent/token")
    assert run.code == 1 and "neither a token nor an existing file" in run.err


def test_inspect_json(tmp_path: Path) -> None:
    run = Run("inspect", _write(tmp_path, client_token()), "-j",
              "--issuer-public-key", keys.public_hex(ISSUER)).ok()
    report = json.loads(run.out)
    assert report["claims"]["callerid"] == "jwt=alice"
    assert report["issuer"] == "trusted" and report["validity"] == "valid"
    assert report["problems"] == []


def test_inspect_defaults_come_from_the_client_config(tmp_path: Path) -> None:
    pub = write_issuer(tmp_path)
    (tmp_path / "alice.token").write_text(client_token() + "\n")
    cfg = tmp_path / "client.cfg"
    cfg.write_text("securityprovider = jwt\n"
                   f"plugin.jwt.issuer_public_key = {pub.name}\n"
                   "plugin.jwt.token = alice.token\n"
                   "plugin.jwt.private_key = alice.key\n")
    run = Run("inspect", "-c", str(cfg)).ok()
    assert "jwt=alice" in run.out and "OK, a trusted issuer" in run.out
    # An explicitly named configuration that is broken is an error...
    cfg.write_text("plugin.jwt.clock_skew = soon\n")
    broken = Run("inspect", "-c", str(cfg))
    assert broken.code == 1 and "plugin.jwt.clock_skew" in broken.err
    # ...and without a token anywhere, inspect says what it needs.
    cfg.write_text("")
    none = Run("inspect", "-c", str(cfg))
    assert none.code == 1 and "give a token" in none.err


def test_runs_as_an_mco_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert mco_main(["security", "inspect", client_token()]) == 0
    assert "jwt=alice" in capsys.readouterr().out
    assert mco_main(["help", "security"]) == 0
    assert "keygen" in capsys.readouterr().out
