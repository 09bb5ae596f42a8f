"""External agents: an agent implemented by any executable plus a JSON DDL.

Compatible with Choria's external agents (``io.choria.mcorpc.external.v1``), so agents
written for Choria (for instance with py-mco-agent, or in shell) run unchanged:

* **Discovery.** Each directory in ``plugin.external.agents_dir`` (comma-separated; relative
  paths are taken from the config file's directory) and each ``<libdir>/mcollective/agent``
  holds ``<name>.json`` (the DDL) and an executable ``<name>`` beside it, or a
  sub-directory ``<name>/`` holding both. In ``libdir`` only DDLs with ``"provider":
  "external"`` count (those directories also hold DDLs of other agents, as in Choria);
  in ``agents_dir`` a DDL without a provider is accepted too. Names of built-in agents
  (``rpcutil``, ``discovery``, ...) are refused.
* **Activation.** When the daemon loads the agent it runs the executable once with an
  ``activation_request``; only an explicit ``{"activate": false}`` reply keeps the agent
  off. (Choria also refuses agents that do not answer it; accepting them lets a
  three-line shell script be an agent.)
* **Calls.** Each request runs ``<executable> REQUEST_FILE REPLY_FILE PROTOCOL`` without a
  shell, in a private temporary directory, with ``CHORIA_EXTERNAL_REQUEST``,
  ``CHORIA_EXTERNAL_REPLY``, ``CHORIA_EXTERNAL_PROTOCOL``, ``CHORIA_EXTERNAL_CONFIG`` (and
  MCollective's ``MCOLLECTIVE_REQUEST_FILE``/``MCOLLECTIVE_REPLY_FILE``) in a minimal
  environment, bounded by the DDL timeout. The request file is an ``rpc_request``
  document (agent, action, requestid, senderid, callerid, collective, ttl, msgtime,
  data), each taken from the request that arrived. The reply is read from the reply
  file, or from stdout when the file is empty: an ``rpc_reply`` (``{"statuscode",
  "statusmsg", "data"}``) or, as MCollective's ``implemented_by`` had it, a bare object
  merged into the reply data. A non-zero exit status fails the request (status 1)
  with the last line of stderr.

The entry point ``external`` in ``mcollective.agents`` is :class:`ExternalAgents`; its
hook returns one :class:`ExternalAgent` subclass per agent found.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mcollective.agent import Agent, AgentReply, AgentRequest, run_command
from mcollective.ddl import AgentDDL, load_agent_ddl
from mcollective.errors import DDLError, MCollectiveError, RPCError
from mcollective.hookspecs import hookimpl

if TYPE_CHECKING:
    from mcollective.config import Config

log = logging.getLogger(__name__)

REQUEST_PROTOCOL = "io.choria.mcorpc.external.v1.rpc_request"
REQUEST_SCHEMA = "https://choria.io/schemas/mcorpc/external/v1/rpc_request.json"
REPLY_PROTOCOL = "io.choria.mcorpc.external.v1.rpc_reply"
ACTIVATION_PROTOCOL = "io.choria.mcorpc.external.v1.activation_request"
ACTIVATION_SCHEMA = "https://choria.io/schemas/mcorpc/external/v1/activation_request.json"

#: Agents an external agent may never replace (as Choria's deny list).
DENIED = frozenset({"rpcutil", "discovery", "choria_util", "choria_provision",
                    "choria_registry", "scout"})
ACTIVATION_TIMEOUT = 2.0
_DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
_ENVELOPE_KEYS = frozenset({"statuscode", "statusmsg", "data", "$schema", "protocol"})

PLUGIN = "external"
SETTINGS = {"agents_dir": str, "activate_agent": str}


@dataclass(frozen=True)
class ExternalAgentFiles:
    """Where one external agent lives."""

    name: str
    ddl: Path
    executable: Path


# --- discovery ----------------------------------------------------------------------------


def configured_dirs(config: Config) -> list[tuple[Path, bool]]:
    """``(directory, strict)`` pairs to search: ``agents_dir`` entries (not strict)
    then ``<libdir>/mcollective/agent`` (strict: provider must be ``external``)."""
    settings = config.plugin_config(PLUGIN, SETTINGS)
    dirs: list[tuple[Path, bool]] = []
    for entry in str(settings.get("agents_dir", "")).split(","):
        if entry.strip():
            dirs.append((config.resolve_path(entry.strip()), False))
    for libdir in config.libdir:
        dirs.append((Path(libdir) / "mcollective" / "agent", True))
    return dirs


def find_agents(dirs: Iterable[tuple[Path, bool]]) -> list[ExternalAgentFiles]:
    """Every usable external agent in ``dirs``; the first directory wins a name. Broken
    or unusable candidates are logged and skipped: one bad file must not keep a node's
    other agents away."""
    found: dict[str, ExternalAgentFiles] = {}
    for directory, strict in dirs:
        if not directory.is_dir():
            log.debug("external agents directory %s does not exist", directory)
            continue
        for candidate in sorted(directory.iterdir()):
            ddl = candidate / f"{candidate.name}.json" if candidate.is_dir() else candidate
            if ddl.suffix != ".json" or not ddl.is_file():
                continue
            files = _check_candidate(ddl, strict)
            if files is None:
                continue
            if files.name in found:
                log.warning("external agent '%s' in %s ignored: already found in %s",
                            files.name, ddl.parent, found[files.name].ddl.parent)
                continue
            found[files.name] = files
    return list(found.values())


def _check_candidate(ddl_path: Path, strict: bool) -> ExternalAgentFiles | None:
    name = ddl_path.stem
    try:
        raw = json.loads(ddl_path.read_text(encoding="utf-8"))
        provider = raw.get("metadata", {}).get("provider") if isinstance(raw, dict) else None
    except (OSError, ValueError) as exc:
        log.error("external agent DDL %s cannot be read: %s", ddl_path, exc)
        return None
    if provider not in ("external", None) or (strict and provider != "external"):
        log.debug("%s: provider %r is not an external agent", ddl_path, provider)
        return None
    if name in DENIED:
        log.warning("external agents may not provide an agent called '%s': %s skipped",
                    name, ddl_path)
        return None
    executable = ddl_path.with_suffix("")
    if not executable.is_file() or not os.access(executable, os.X_OK):
        log.warning("external agent '%s' skipped: no executable %s beside its DDL", name,
                    executable)
        return None
    return ExternalAgentFiles(name, ddl_path, executable)


# --- the agent --------------------------------------------------------------------------


class ExternalAgent(Agent):
    """Runs an executable per request. Subclassed once per agent by :func:`agent_class`;
    ``files`` says where it lives."""

    files: ClassVar[ExternalAgentFiles]
    _loaded_ddl: ClassVar[AgentDDL | None] = None

    @classmethod
    def load_ddl(cls) -> AgentDDL:
        if cls._loaded_ddl is None:
            ddl = load_agent_ddl(cls.files.ddl)
            if ddl.name != cls.files.name:
                raise DDLError(f"{cls.files.ddl}: metadata.name is '{ddl.name}' but the "
                               f"file is named for '{cls.files.name}'")
            cls._loaded_ddl = ddl
        return cls._loaded_ddl

    @classmethod
    def activate(cls, config: Config) -> bool:
        request = {"$schema": ACTIVATION_SCHEMA, "protocol": ACTIVATION_PROTOCOL,
                   "agent": cls.files.name}
        try:
            reply = _execute(cls.files, request, ACTIVATION_PROTOCOL, config,
                             timeout=ACTIVATION_TIMEOUT)
        except _ExecutionFailed as exc:
            log.debug("external agent %s: activation check inconclusive (%s); activating",
                      cls.files.name, exc)
            return True
        if isinstance(reply, dict) and reply.get("activate") is False:
            log.info("external agent %s asked not to be activated", cls.files.name)
            return False
        return True

    def handle(self, request: AgentRequest, reply: AgentReply) -> None:
        self.ddl.action(request.action)  # undeclared actions: status 2, as for any agent
        document = request_document(request, self.config)
        label = f"{request.agent}#{request.action}"
        try:
            result = _execute(self.files, document, REQUEST_PROTOCOL, self.config,
                              timeout=request.remaining(), request=request)
        except _ExecutionFailed as exc:
            reply.fail(f"Could not call external agent {label}: {exc}", 1)
            return
        _apply_reply(result, reply, label)


def request_document(request: AgentRequest, config: Config) -> dict[str, Any]:
    """The ``rpc_request`` document for ``request``: every field from the request that
    arrived, named and typed as Choria's ``external.Request`` (``ttl`` and ``msgtime``
    whole seconds, ``msgtime`` the request's own Unix time)."""
    # Only a request built without its ttl (older callers of AgentRequest) falls back
    # to this node's configured ttl.
    ttl = request.ttl if request.ttl is not None else config.ttl
    return {
        "$schema": REQUEST_SCHEMA, "protocol": REQUEST_PROTOCOL,
        "agent": request.agent, "action": request.action, "requestid": request.id,
        "senderid": request.sender, "callerid": request.caller,
        "collective": request.collective, "ttl": int(ttl),
        "msgtime": int(request.time), "data": dict(request.data),
    }


class _ExecutionFailed(MCollectiveError):
    pass


def _execute(files: ExternalAgentFiles, document: Mapping[str, Any], protocol: str,
             config: Config, *, timeout: float, request: AgentRequest | None = None
             ) -> Any:
    """Run the executable on ``document`` and return its decoded JSON reply (``None``
    when it wrote nothing)."""
    with tempfile.TemporaryDirectory(prefix=f"mco-{files.name}-") as tmp:
        req_file, rep_file = Path(tmp, "request.json"), Path(tmp, "reply.json")
        req_file.write_text(json.dumps(document), encoding="utf-8")
        rep_file.write_text("", encoding="utf-8")
        env = {
            "PATH": os.environ.get("PATH", _DEFAULT_PATH),
            "CHORIA_EXTERNAL_REQUEST": str(req_file),
            "CHORIA_EXTERNAL_REPLY": str(rep_file),
            "CHORIA_EXTERNAL_PROTOCOL": protocol,
            "CHORIA_EXTERNAL_CONFIG": str(_agent_config(config, files.name)),
            "MCOLLECTIVE_REQUEST_FILE": str(req_file),
            "MCOLLECTIVE_REPLY_FILE": str(rep_file),
        }
        for key in ("LANG", "LC_ALL", "TZ"):
            if key in os.environ:
                env[key] = os.environ[key]
        started = time.monotonic()
        try:
            run = run_command([str(files.executable), str(req_file), str(rep_file),
                               protocol], request=request, timeout=timeout, cwd=tmp,
                              env=env)
        except RPCError as exc:  # could not start it at all
            raise _ExecutionFailed(str(exc)) from None
        log.debug("external agent %s (%s) exited %s after %.3fs", files.name, protocol,
                  run.exitcode, time.monotonic() - started)
        if run.stderr.strip():
            log.info("external agent %s stderr: %s", files.name, run.stderr.strip()[-2000:])
        if run.timed_out:
            raise _ExecutionFailed(f"{files.executable.name} did not finish within "
                                   f"{timeout:.0f} seconds and was killed")
        if run.exitcode != 0:
            last = run.stderr.strip().splitlines()[-1:] or [""]
            detail = f": {last[0]}" if last[0] else ""
            raise _ExecutionFailed(f"executing {files.executable.name} failed: exit status "
                                   f"{run.exitcode}{detail}")
        text = rep_file.read_text(encoding="utf-8").strip() or run.stdout.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise _ExecutionFailed(f"the reply is not JSON ({exc}): {text[:200]!r}") from None


def _agent_config(config: Config, name: str) -> Path:
    base = config.configdir or Path.cwd()
    return (Path(base) / "plugin.d" / name).resolve()


def _apply_reply(result: Any, reply: AgentReply, label: str) -> None:
    if result is None:
        reply.fail(f"Could not call external agent {label}: it wrote no reply (neither "
                   "the reply file nor stdout held JSON)", 1)
        return
    if not isinstance(result, dict):
        reply.fail(f"Could not call external agent {label}: the reply must be a JSON "
                   f"object, got {type(result).__name__}", 1)
        return
    if _is_envelope(result):
        data = result.get("data")
        if data is not None and not isinstance(data, dict):
            reply.fail(f"external agent {label}: reply 'data' must be an object", 1)
            return
        reply.data.update(data or {})
        code = result.get("statuscode", 0)
        if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 5:
            reply.fail(f"external agent {label}: invalid statuscode {code!r}", 5)
            return
        if code:
            reply.fail(str(result.get("statusmsg") or "failed"), code)
        elif isinstance(result.get("statusmsg"), str) and result["statusmsg"]:
            reply.statusmsg = result["statusmsg"]
        return
    reply.data.update(result)


def _is_envelope(obj: Mapping[str, Any]) -> bool:
    """An ``rpc_reply`` document rather than bare reply data."""
    if obj.get("protocol") == REPLY_PROTOCOL or "statuscode" in obj:
        return True
    return bool(obj) and set(obj) <= _ENVELOPE_KEYS and isinstance(obj.get("data"), dict)


def agent_class(files: ExternalAgentFiles) -> type[ExternalAgent]:
    """A new :class:`ExternalAgent` subclass for one agent."""
    cls = type(f"External_{files.name}", (ExternalAgent,), {
        "agent_name": files.name, "files": files, "_loaded_ddl": None,
        "__module__": __name__,
        "__doc__": f"External agent {files.name} ({files.executable}).",
    })
    return cls


class ExternalAgents:
    """The ``external`` agent plugin: hosts every external agent found on this node."""

    @hookimpl
    @staticmethod
    def mco_agent_classes(config: Config) -> Sequence[type[Agent]]:
        return [agent_class(files) for files in find_agents(configured_dirs(config))]


__all__ = [
    "ACTIVATION_PROTOCOL",
    "REPLY_PROTOCOL",
    "REQUEST_PROTOCOL",
    "ExternalAgent",
    "ExternalAgentFiles",
    "ExternalAgents",
    "agent_class",
    "configured_dirs",
    "find_agents",
    "request_document",
]
