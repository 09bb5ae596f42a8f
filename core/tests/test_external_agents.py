"""External agents: real executables (shell and Python scripts) behind JSON DDLs, found
in configured directories and called through real in-process daemons."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from collective_helpers import Nodes, nodes
from inprocess import client

from mcollective.agent import AgentReply, AgentRequest
from mcollective.config import config_from_text
from mcollective.external import (
    ACTIVATION_PROTOCOL,
    REQUEST_PROTOCOL,
    REQUEST_SCHEMA,
    ExternalAgents,
    agent_class,
    configured_dirs,
    find_agents,
    request_document,
)
from mcollective.testing.agents import build_agent


def ddl(name: str, *, provider: str | None = "external", timeout: int = 5,
        actions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    meta = {"name": name, "description": f"{name} agent", "author": "tests",
            "license": "Apache-2.0", "version": "1.0.0", "url": "https://example.net",
            "timeout": timeout}
    if provider is not None:
        meta["provider"] = provider
    return {"$schema": "https://choria.io/schemas/mcorpc/ddl/v1/agent.json",
            "metadata": meta, "actions": actions or [{
                "action": "run", "description": "run it", "display": "always",
                "input": {"word": {"prompt": "Word", "description": "a word",
                                   "type": "string", "validation": r"^\w+$",
                                   "maxlength": 20, "optional": True}},
                "output": {"said": {"description": "what was said", "display_as": "Said",
                                    "default": "nothing"},
                           "extra": {"description": "more", "display_as": "Extra"}}}]}


def install(directory: Path, name: str, script: str, document: dict[str, Any] | None = None,
            *, executable: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.json").write_text(json.dumps(document or ddl(name)))
    exe = directory / name
    exe.write_text(script)
    exe.chmod(0o755 if executable else 0o644)
    return exe


#: Says hello in shell: reads the word with sed, writes an rpc_reply to the reply file.
SHELL_AGENT = r"""#!/bin/sh
case "$3" in *activation_request) echo '{"activate": true}' > "$2"; exit 0;; esac
word=$(sed -n 's/.*"word": *"\([A-Za-z0-9_]*\)".*/\1/p' "$1")
printf '{"statuscode": 0, "statusmsg": "OK", "data": {"said": "hello %s"}}' "$word" > "$2"
"""

#: Echoes what it was given (request, argv, environment, cwd) and behaves as asked.
PYTHON_AGENT = f"""#!{sys.executable}
import json, os, sys, time
request = json.load(open(sys.argv[1]))
if request["protocol"].endswith("activation_request"):
    json.dump({{"activate": not os.path.exists(os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "disabled"))}}, open(sys.argv[2], "w"))
    sys.exit(0)
word = request["data"].get("word", "")
seen = {{"request": request, "argv": sys.argv[1:], "cwd": os.getcwd(),
         "env": {{k: v for k, v in os.environ.items()
                 if k.startswith(("CHORIA_", "MCOLLECTIVE_")) or k == "HOME"}}}}
if word == "fail":
    print("something broke", file=sys.stderr)
    sys.exit(3)
if word == "sleep":
    time.sleep(30)
if word == "garbage":
    open(sys.argv[2], "w").write("not json")
elif word == "stdout":
    print(json.dumps({{"said": "via stdout"}}))
elif word == "bare":
    json.dump({{"said": "bare object", "extra": 1}}, open(sys.argv[2], "w"))
elif word == "refuse":
    json.dump({{"statuscode": 4, "statusmsg": "word refused", "data": {{}}}},
              open(sys.argv[2], "w"))
elif word == "silent":
    pass
else:
    json.dump({{"statuscode": 0, "statusmsg": "OK",
               "data": {{"said": word, "extra": seen}}}}, open(sys.argv[2], "w"))
"""


@pytest.fixture
def agents_dir(tmp_path: Path) -> Path:
    d = tmp_path / "agents"
    install(d, "hello", SHELL_AGENT)
    install(d, "echo", PYTHON_AGENT)
    return d


@pytest.fixture
def env(agents_dir: Path) -> Iterator[Nodes]:
    with nodes("n1", agents={"external": ExternalAgents},
               extra=f"plugin.external.agents_dir = {agents_dir}") as collective:
        yield collective


def call(env: Nodes, agent: str, **data: Any) -> Any:
    [result] = client(env.session, agent).call("run", data)
    return result


# --- discovery ------------------------------------------------------------------------


def test_finds_flat_and_nested_agents(tmp_path: Path) -> None:
    install(tmp_path, "flat", SHELL_AGENT)
    install(tmp_path / "nested", "nested", SHELL_AGENT)
    found = {f.name: f for f in find_agents([(tmp_path, False)])}
    assert set(found) == {"flat", "nested"}
    assert found["nested"].executable == tmp_path / "nested" / "nested"


def test_skips_what_cannot_be_an_external_agent(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="mcollective.external")
    install(tmp_path, "noexec", SHELL_AGENT, executable=False)
    install(tmp_path, "golang", SHELL_AGENT, ddl("golang", provider="golang"))
    install(tmp_path, "rpcutil", SHELL_AGENT, ddl("rpcutil"))
    (tmp_path / "broken.json").write_text("{nope")
    (tmp_path / "noddl").write_text("#!/bin/sh\n")
    assert find_agents([(tmp_path, False)]) == []
    assert "no executable" in caplog.text and "may not provide" in caplog.text
    assert "cannot be read" in caplog.text


def test_libdirs_need_provider_external_and_first_directory_wins(tmp_path: Path) -> None:
    install(tmp_path / "a", "plain", SHELL_AGENT, ddl("plain", provider=None))
    install(tmp_path / "b", "plain", SHELL_AGENT, ddl("plain"))
    install(tmp_path / "b", "twice", SHELL_AGENT)
    install(tmp_path / "a", "twice", SHELL_AGENT)
    assert find_agents([(tmp_path / "a", True)]) == [
        f for f in find_agents([(tmp_path / "a", False)]) if f.name == "twice"]
    both = {f.name: f for f in find_agents([(tmp_path / "a", False),
                                            (tmp_path / "b", False)])}
    assert both["twice"].ddl.parent == tmp_path / "a"


def test_directories_from_configuration(tmp_path: Path) -> None:
    cfg_file = tmp_path / "server.cfg"
    cfg_file.write_text(f"plugin.external.agents_dir = agents, /opt/x\nlibdir = {tmp_path}\n")
    from mcollective.config import load_config

    config = load_config(cfg_file, role="server")
    assert configured_dirs(config) == [(tmp_path / "agents", False), (Path("/opt/x"), False),
                                       (tmp_path / "mcollective" / "agent", True)]
    assert configured_dirs(config_from_text("", role="server")) == []


def test_the_plugin_hook_returns_one_class_per_agent(agents_dir: Path) -> None:
    config = config_from_text(f"plugin.external.agents_dir = {agents_dir}", role="server")
    classes = ExternalAgents.mco_agent_classes(config)
    assert sorted(c.agent_name for c in classes) == ["echo", "hello"]
    echo = next(c for c in classes if c.agent_name == "echo")
    assert echo.load_ddl().metadata.provider == "external"
    assert echo.activate(config) is True


def test_ddl_name_must_match_the_file(tmp_path: Path) -> None:
    install(tmp_path, "right", SHELL_AGENT, ddl("wrong"))
    [files] = find_agents([(tmp_path, False)])
    with pytest.raises(Exception, match="wrong"):
        agent_class(files).load_ddl()


def test_activation_false_keeps_the_agent_off(agents_dir: Path) -> None:
    (agents_dir / "disabled").write_text("")
    with nodes("n1", agents={"external": ExternalAgents},
               extra=f"plugin.external.agents_dir = {agents_dir}") as collective:
        loaded = set(collective.daemons[0].agents)
    assert "hello" in loaded and "echo" not in loaded


# --- calls through a daemon -------------------------------------------------------------


def test_a_shell_agent_answers_through_the_daemon(env: Nodes) -> None:
    result = call(env, "hello", word="world")
    assert (result.statuscode, result.statusmsg) == (0, "OK")
    assert result.data == {"said": "hello world", "extra": None}  # DDL defaults merged


def test_the_request_document_and_environment(env: Nodes, agents_dir: Path) -> None:
    result = call(env, "echo", word="hi")
    assert result.statuscode == 0 and result.data["said"] == "hi"
    seen = result.data["extra"]
    req = seen["request"]
    assert req["protocol"] == REQUEST_PROTOCOL
    assert req["$schema"].endswith("/external/v1/rpc_request.json")
    assert (req["agent"], req["action"], req["data"]) == ("echo", "run", {"word": "hi"})
    assert req["callerid"] == "user=contract" and req["senderid"] == "client"
    assert req["collective"] == "mcollective" and req["ttl"] == 60
    assert isinstance(req["msgtime"], int) and req["requestid"]
    request_file, reply_file, protocol = seen["argv"]
    assert protocol == REQUEST_PROTOCOL
    assert seen["env"]["CHORIA_EXTERNAL_REQUEST"] == request_file
    assert seen["env"]["CHORIA_EXTERNAL_REPLY"] == reply_file
    assert seen["env"]["MCOLLECTIVE_REPLY_FILE"] == reply_file
    assert seen["env"]["CHORIA_EXTERNAL_PROTOCOL"] == REQUEST_PROTOCOL
    assert seen["env"]["CHORIA_EXTERNAL_CONFIG"].endswith("/plugin.d/echo")
    assert "HOME" not in seen["env"]  # a minimal environment, not the daemon's
    assert seen["cwd"] == str(Path(request_file).parent)
    assert not Path(request_file).exists()  # cleaned up after the call


def _arrived(**overrides: Any) -> AgentRequest:
    """A request as the daemon hands it over, unlike this node's own settings in every
    field: another collective, an old time, a ttl the node is not configured with."""
    values: dict[str, Any] = {
        "agent": "echo", "action": "run", "data": {"word": "hi"}, "caller": "user=alice",
        "sender": "client9", "id": "ab" * 16, "time": 1700000000.9, "collective": "sub",
        "timeout": 5.0, "ttl": 37}
    values.update(overrides)
    return AgentRequest(**values)


def test_the_request_document_is_the_request_that_arrived(agents_dir: Path,
                                                           tmp_path: Path) -> None:
    """Every field comes from the request, named and typed as Choria's external.Request
    (whole-second ttl and msgtime), never from this node's configuration."""
    [files] = [f for f in find_agents([(agents_dir, False)]) if f.name == "echo"]
    agent = build_agent(agent_class(files), tmp_path, "ttl = 99", identity="n1")
    reply = AgentReply()
    agent.handle(_arrived(), reply)
    assert reply.statuscode == 0, reply.statusmsg
    assert reply["extra"]["request"] == {
        "$schema": REQUEST_SCHEMA, "protocol": REQUEST_PROTOCOL, "agent": "echo",
        "action": "run", "requestid": "ab" * 16, "senderid": "client9",
        "callerid": "user=alice", "collective": "sub", "ttl": 37, "msgtime": 1700000000,
        "data": {"word": "hi"}}


def test_a_request_without_its_ttl_gets_the_configured_one() -> None:
    config = config_from_text("ttl = 99\n", role="server")
    assert request_document(_arrived(ttl=None), config)["ttl"] == 99
    assert request_document(_arrived(), config)["ttl"] == 37


def test_the_request_ttl_reaches_the_agent_through_the_daemon(env: Nodes) -> None:
    [result] = client(env.session, "echo", ttl=37).call("run", {"word": "hi"})
    assert result.statuscode == 0
    assert result.data["extra"]["request"]["ttl"] == 37


@pytest.mark.parametrize(("word", "code", "message", "data"), [
    ("bare", 0, "OK", {"said": "bare object", "extra": 1}),
    ("stdout", 0, "OK", {"said": "via stdout", "extra": None}),
    ("refuse", 4, "word refused", None),
    ("fail", 1, "exit status 3: something broke", None),
    ("garbage", 1, "the reply is not JSON", None),
    ("silent", 1, "it wrote no reply", None),
])
def test_replies_and_failures(env: Nodes, word: str, code: int, message: str,
                              data: dict[str, Any] | None) -> None:
    result = call(env, "echo", word=word)
    assert result.statuscode == code
    assert message in result.statusmsg
    if data is not None:
        assert result.data == data


def test_inputs_are_validated_before_the_executable_runs(env: Nodes) -> None:
    c = client(env.session, "echo")
    c._ddl = None  # bypass client-side checks: the daemon must refuse
    [result] = c.call("run", {"word": "two words"})
    assert result.statuscode == 4 and "word" in result.statusmsg
    [result] = c.call("nope", {})
    assert result.statuscode == 2


def test_the_ddl_timeout_kills_a_hanging_agent(tmp_path: Path) -> None:
    install(tmp_path, "slow", PYTHON_AGENT, ddl("slow", timeout=1))
    with nodes("n1", agents={"external": ExternalAgents},
               extra=f"plugin.external.agents_dir = {tmp_path}") as collective:
        [result] = client(collective.session, "slow", timeout=5).call("run", word="sleep")
    assert result.statuscode == 1 and "timed out" in result.statusmsg


def test_activation_protocol_constant() -> None:
    assert ACTIVATION_PROTOCOL == "io.choria.mcorpc.external.v1.activation_request"
