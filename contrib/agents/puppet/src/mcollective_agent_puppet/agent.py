"""The puppet agent, with the DDL of Choria's puppet agent (``puppet.json``, as
published) and the behaviour of the Ruby ``mcollective-puppet-agent`` it descends from:

* ``runonce`` refuses while the agent is disabled (``Puppet is disabled: 'MESSAGE'``) or
  a catalog is being applied, else starts ``puppet agent --onetime --no-daemonize`` (or,
  with ``plugin.puppet.run_mode = apply``, ``puppet apply MANIFEST``) in the background
  and says which command it started. ``splay``/``splaylimit`` default to the node's
  ``plugin.puppet.splay``/``splaylimit``; ``force`` runs at once.
* ``enable``/``disable`` remove and write Puppet's own disabled lock, exactly as
  ``puppet agent --enable``/``--disable MESSAGE`` do.
* ``status`` and ``last_run_summary`` read Puppet's state files.
* ``resource`` shows one resource through ``puppet resource TYPE NAME`` (the DDL gives
  no properties, so nothing is changed), within ``resource_type_whitelist`` /
  ``resource_type_blacklist`` and refusing resources Puppet manages unless
  ``resource_allow_managed_resources``.
"""

from __future__ import annotations

import re
import shlex
import time
from typing import TYPE_CHECKING, Any

from mcollective.agent import Agent, AgentReply, AgentRequest
from mcollective.config import boolean, number
from mcollective.errors import InvalidRPCData, RPCAborted, ValidatorError

from .manager import DIR_OPTIONS, SETTINGS, PuppetManager, seconds_to_human, splay_delay
from .validators import puppet_server_address, puppet_tags, split_server

if TYPE_CHECKING:
    from mcollective.config import Config

PLUGIN = "puppet"
_TYPE = re.compile(r"[a-z][a-z0-9_]*(::[a-z][a-z0-9_]*)*\Z")


def _command(value: Any) -> list[str]:
    words = shlex.split(str(value))
    if not words:
        raise ValueError("expected a command, e.g. 'puppet'")
    return words


def _types(value: Any) -> list[str]:
    return [t.strip().lower() for t in str(value).split(",") if t.strip()]


def _path(value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise ValueError("expected a path")
    return text


SCHEMA: dict[str, Any] = {
    "command": _command,
    "run_mode": lambda v: _choice(v, ("agent", "apply")),
    "apply_manifest": _path,
    "splay": boolean,
    "splaylimit": number(0),
    "resource_allow_managed_resources": boolean,
    "resource_type_whitelist": _types,
    "resource_type_blacklist": _types,
    "config_timeout": number(1),
    "activate_agent": boolean,  # core's per-agent switch
    **{name: _path for name in DIR_OPTIONS},
    **{name: _path for name in SETTINGS},
}


def _choice(value: Any, choices: tuple[str, ...]) -> str:
    text = str(value).strip().lower()
    if text not in choices:
        raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
    return text


def settings(config: Config) -> dict[str, Any]:
    values = config.plugin_config(PLUGIN, SCHEMA, {
        "command": ["puppet"], "run_mode": "agent", "splay": True, "splaylimit": 30.0,
        "resource_allow_managed_resources": False, "config_timeout": 60.0,
    })
    if values["run_mode"] == "apply" and "apply_manifest" not in values:
        raise ValueError("plugin.puppet.run_mode = apply needs plugin.puppet.apply_manifest")
    if "resource_type_whitelist" in values and "resource_type_blacklist" in values:
        raise ValueError("set plugin.puppet.resource_type_whitelist or "
                         "plugin.puppet.resource_type_blacklist, not both")
    return values


class Puppet(Agent):
    """Manages the life cycle of the Puppet agent."""

    agent_name = "puppet"

    @classmethod
    def activate(cls, config: Config) -> bool:
        """Load only where Puppet is installed (``plugin.puppet.command``), as the Ruby
        agent's ``activate_when``: a node without Puppet does not claim the agent."""
        import shutil

        try:
            program = settings(config)["command"][0]
        except Exception:
            return True  # startup() reports the configuration error with its key
        return shutil.which(program) is not None

    def startup(self) -> None:
        from mcollective.errors import ConfigError

        try:
            self.settings = settings(self.config)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        values = self.settings
        self.manager = PuppetManager(
            puppet=list(values["command"]),
            dir_options={k: self._resolve(values[k]) for k in DIR_OPTIONS if k in values},
            overrides={k: self._resolve(values[k]) for k in SETTINGS if k in values},
            run_mode=values["run_mode"],
            apply_manifest=(self._resolve(values["apply_manifest"])
                            if "apply_manifest" in values else None),
            config_timeout=values["config_timeout"],
        )
        # Nothing runs yet: `puppet config print` (seconds of Ruby start-up) is asked on
        # the first request and cached, so a node that is never asked about Puppet
        # never pays for it.

    def _resolve(self, value: str) -> str:
        return str(self.config.resolve_path(value))

    # --- actions ------------------------------------------------------------------------

    def status(self, request: AgentRequest, reply: AgentReply) -> None:
        reply.data.update(self.current_status())

    def current_status(self) -> dict[str, Any]:
        manager = self.manager
        message = manager.disabled_message()
        applying = manager.applying()
        daemon = manager.daemon_present()
        lastrun = manager.lastrun()
        since = int(time.time()) - lastrun
        if message is not None:
            state = "disabled"
        elif applying:
            state = "applying a catalog"
        elif daemon:
            state = "idling"
        else:
            state = "stopped"
        return {
            "applying": applying, "idling": daemon and not applying,
            "enabled": message is None, "daemon_present": daemon, "lastrun": lastrun,
            "since_lastrun": since, "status": state,
            "disable_message": message or "",
            "message": (f"Currently {state}; last completed run "
                        f"{seconds_to_human(since)} ago" if lastrun else
                        f"Currently {state}; Puppet has not run yet"),
        }

    def disable(self, request: AgentRequest, reply: AgentReply) -> None:
        message = request.get("message") or (
            f"Disabled via MCollective by {request.caller} at "
            f"{time.strftime('%Y-%m-%d %H:%M')}")
        try:
            self.manager.disable(message)
            reply["status"] = f"Succesfully locked the Puppet agent: {message}"
        except RPCAborted as exc:
            reply["status"] = f"Could not disable Puppet: {exc}"
            raise RPCAborted(reply["status"]) from None
        finally:
            reply["enabled"] = self.manager.disabled_message() is None

    def enable(self, request: AgentRequest, reply: AgentReply) -> None:
        try:
            self.manager.enable()
            reply["status"] = "Succesfully enabled the Puppet agent"
        except RPCAborted as exc:
            reply["status"] = f"Could not enable Puppet: {exc}"
            raise RPCAborted(reply["status"]) from None
        finally:
            reply["enabled"] = self.manager.disabled_message() is None

    def last_run_summary(self, request: AgentRequest, reply: AgentReply) -> None:
        manager = self.manager
        summary = manager.summary()
        if not summary:
            raise RPCAborted("Puppet has not run yet: no last run summary at "
                             f"{manager.paths()['lastrunfile']}")
        resources = summary.get("resources") or {}
        times = summary.get("time") or {}
        lastrun = manager.lastrun(summary)
        reply["type_distribution"] = manager.type_distribution()
        reply["out_of_sync_resources"] = _int(resources.get("out_of_sync", 0))
        reply["failed_resources"] = _int(resources.get("failed", 0))
        reply["corrected_resources"] = _int(resources.get("corrective_change", 0))
        reply["changed_resources"] = _int(resources.get("changed", 0))
        reply["total_resources"] = _int(resources.get("total", 0))
        reply["total_time"] = _number(times.get("total", 0))
        reply["config_retrieval_time"] = _number(times.get("config_retrieval", 0))
        reply["lastrun"] = lastrun
        reply["since_lastrun"] = int(time.time()) - lastrun
        reply["config_version"] = str((summary.get("version") or {}).get("config", ""))
        reply["summary"] = summary
        reply["logs"] = manager.logs() if request.get("logs") else []

    def runonce(self, request: AgentRequest, reply: AgentReply) -> None:
        manager = self.manager
        message = manager.disabled_message()
        if message is not None:
            reply["summary"] = (f"Puppet is disabled: '{message}'" if message
                                else "Puppet is disabled")
            raise RPCAborted(reply["summary"])
        if manager.applying():
            reply["summary"] = "Puppet is currently applying a catalog, cannot run now"
            raise RPCAborted(reply["summary"])
        try:
            tags = _tag_list(request.get("tags"))
            skip = _tag_list(request.get("skip_tags"))
            server = request.get("server")
            if server:
                puppet_server_address(server)
        except ValidatorError as exc:
            raise InvalidRPCData(str(exc)) from None
        splay = False
        limit = None
        # A daemon splays by its own settings; only a run we start can be splayed.
        if not request.get("force") and not manager.daemon_present():
            splay = bool(request["splay"]) if request.get("splay") is not None \
                else bool(self.settings["splay"])
            limit = request.get("splaylimit")
            limit = float(limit) if limit is not None else self.settings["splaylimit"]
        command = manager.run_command(
            noop=request.get("noop"), tags=tags, skip_tags=skip,
            environment=request.get("environment"),
            server=split_server(server) if server else None,
            splay=splay, splaylimit=limit,
            use_cached_catalog=request.get("use_cached_catalog"))
        delay = splay_delay(limit or 0) if splay and manager.run_mode == "apply" else 0.0
        manager.start_run(command, delay=delay)
        reply["initiated_at"] = int(time.time())
        reply["summary"] = ("Started a background Puppet run using the "
                            f"'{shlex.join(command)}' command"
                            + (f" in {delay:.0f} seconds (splay)" if delay else ""))

    def resource(self, request: AgentRequest, reply: AgentReply) -> None:
        kind = str(request["type"]).lower()
        name = str(request["name"])
        if not _TYPE.match(kind):
            raise InvalidRPCData(f"{request['type']!r} is not a Puppet resource type")
        if name.startswith("-"):
            raise InvalidRPCData(f"{name!r}: a resource name may not start with '-'")
        allow = self.settings.get("resource_type_whitelist")
        deny = self.settings.get("resource_type_blacklist")
        if deny is not None:
            if kind in deny:
                raise RPCAborted(f"The {kind} type is listed in the type blacklist")
        elif allow is None or kind not in allow:
            # As the Ruby agent: neither list set means no type is allowed.
            raise RPCAborted(f"The {kind} type is not listed in the type whitelist")
        title = f"{kind}[{name}]".lower()
        if not self.settings["resource_allow_managed_resources"] and \
                title in self.manager.managed_resources():
            raise RPCAborted(f"Puppet is managing the resource '{kind.capitalize()}"
                             f"[{name}]', refusing to create conflicting states")
        command = [*self.manager.puppet, "resource", *self.manager.options(),
                   "--color=false", kind, name]
        if request.get("environment"):
            command.insert(-2, f"--environment={request['environment']}")
        result = self.run_command(command, request=request)
        reply["changed"] = False
        output = result.stdout.strip()
        reply["result"] = output or "no output produced"
        if result.timed_out:
            raise RPCAborted(f"puppet resource {kind} {name} did not finish in time")
        if result.exitcode != 0:
            lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
            raise RPCAborted(f"Failed to evaluate {kind.capitalize()}[{name}]: "
                             + (lines[-1] if lines else f"exit {result.exitcode}"))


def _tag_list(value: Any) -> list[str]:
    if not value:
        return []
    puppet_tags(value)
    return [t.strip() for t in str(value).split(",") if t.strip()]


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _number(value: Any) -> float:
    try:
        return round(float(value), 3)
    except (TypeError, ValueError):
        return 0.0
