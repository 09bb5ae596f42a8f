"""Finding, loading and calling plugins: entry points find, pluggy validates and calls.

Every plugin kind has an entry-point group; the entry-point *name* is what users write in
configuration (``connector = kombu``), so it is short. An entry point names a *plugin
object*: a module, a class or an instance carrying ``@hookimpl`` functions for its kind's
hook specification. :func:`make_plugin_manager` builds a fresh manager; nothing is loaded
at import time and there is no global manager.

Plugins are chosen as stevedore's managers choose them: single-choice kinds by the one
name the configuration gives, the others by explicit names or by installation minus a
disable list. The entry points themselves come from an index kept between runs
(:mod:`mcollective.entry_point_index`), not from stevedore, which reads every installed
distribution's metadata again in each process: that reading was a fifth of an
interactive ``mco`` command's start-up (issue 14).

Failure policy (after OpenTelemetry's loader): a required kind (connector, security, and
authorization when enabled) raises :class:`PluginLoadError`; an optional kind (facts,
audit, agents, data...) logs the plugin by name and carries on without it.
"""

from __future__ import annotations

import functools
import importlib
import logging
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import pluggy

from mcollective.entry_point_index import EntryPoint, Index, cache_directory, read_index
from mcollective.errors import ConfigError, MCollectiveError, PluginLoadError
from mcollective.hookspecs import PROJECT, SPEC_MODULES

if TYPE_CHECKING:
    from mcollective.agent import Agent
    from mcollective.aggregate import Aggregate
    from mcollective.audit import Auditor
    from mcollective.authorization import Authorizer
    from mcollective.cli.application import Application
    from mcollective.config import Config
    from mcollective.connector import Connector
    from mcollective.data import DataPlugin
    from mcollective.discovery import DiscoveryMethod
    from mcollective.facts import FactsSource
    from mcollective.registration import RegistrationPlugin
    from mcollective.security import SecurityProvider

log = logging.getLogger(__name__)


class PluginKind(NamedTuple):
    """One kind of plugin: its user-facing name, entry-point group and factory hook."""

    name: str
    group: str
    hook: str


KINDS: dict[str, PluginKind] = {
    k.name: k
    for k in (
        PluginKind("connector", "mcollective.connectors", "mco_connector_create"),
        PluginKind("security", "mcollective.security", "mco_security_create"),
        PluginKind("facts", "mcollective.facts", "mco_facts_create"),
        PluginKind("audit", "mcollective.audit", "mco_audit_create"),
        PluginKind("registration", "mcollective.registration", "mco_registration_create"),
        PluginKind("authorization", "mcollective.authorization", "mco_authorization_create"),
        PluginKind("agent", "mcollective.agents", "mco_agent_classes"),
        PluginKind("discovery", "mcollective.discovery", "mco_discovery_create"),
        PluginKind("data", "mcollective.data", "mco_data_create"),
        PluginKind("aggregate", "mcollective.aggregates", "mco_aggregate_create"),
        PluginKind("validator", "mcollective.validators", "mco_validator_create"),
        PluginKind("application", "mcollective.applications", "mco_application_class"),
    )
}


#: Where the plugins this project publishes come from, for the error a missing one gives
#: (core alone names plugins it does not contain: kombu, psk, system, yaml).
PUBLISHED: dict[tuple[str, str], str] = {
    ("connector", "kombu"): "mcollective-connector-kombu",
    ("security", "psk"): "mcollective-security-psk",
    ("security", "jwt"): "mcollective-security-jwt",
    ("authorization", "actionpolicy"): "mcollective-authorization-actionpolicy",
    ("facts", "system"): "mcollective-facts-system",
    ("facts", "yaml"): "mcollective-facts-yaml",
    ("application", "security"): "mcollective-security-jwt",
    **{("agent", a): f"mcollective-agent-{a}"
       for a in ("package", "service", "shell", "filemgr", "process", "nettest")},
}

#: The role installs of mcollective-core and the plugins they bring.
_ROLE_HINT = ("pip install 'mcollective-core[server]' installs a node's default plugins, "
              "'mcollective-core[client]' a client's")


def install_hint(kind: str, name: str) -> str | None:
    """What to install for a plugin of ours that is missing, or ``None``."""
    dist = PUBLISHED.get((kind, name))
    if dist is None:
        return None
    if (kind, name) in (("connector", "kombu"), ("security", "psk"), ("facts", "system"),
                        ("facts", "yaml")):
        return f"it comes with {dist} ({_ROLE_HINT})"
    return f"it comes with {dist} (pip install {dist})"


class InstalledPlugin(NamedTuple):
    """An entry point as installed, read from package metadata without importing it."""

    kind: str
    name: str
    target: str
    distribution: str
    version: str


class LoadedPlugin(NamedTuple):
    kind: str
    name: str
    obj: Any
    distribution: str
    version: str


def _kind(kind: str) -> PluginKind:
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown plugin kind {kind!r}; kinds: {', '.join(KINDS)}") from None


def entry_points(group: str) -> list[EntryPoint]:
    """The installed entry points of ``group`` (any group, not only mcollective's),
    from this process's one reading of the entry-point index."""
    return list(_all_entry_points(tuple(sys.path)).get(group, ()))


@functools.lru_cache(maxsize=4)
def _all_entry_points(path: tuple[str, ...]) -> Index:
    """Every entry point of every installed distribution, by group, read once per
    process (per ``sys.path``), from the index kept between runs
    (:mod:`mcollective.entry_point_index`)."""
    return read_index(path, cache_directory())


def refresh_installed() -> list[str]:
    """Make plugins installed since this process started loadable (``kill -HUP``).

    Several caches stand between a fresh ``pip install`` and an import:

    * the interpreter reads ``.pth`` files only at start-up, and an editable install
      (``pip install -e``) puts its source directory on ``sys.path`` through one: the
      site directories are processed again (``site.addsitedir`` skips entries
      already on the path and is what start-up itself runs);
    * the import system's and ``importlib.metadata``'s directory caches:
      ``importlib.invalidate_caches()``;
    * this module's own reading of every entry point (:func:`_all_entry_points`, kept
      for the life of the process). The index on disk needs nothing: the install
      changed the fingerprint that names it.

    Returns the directories added to ``sys.path``."""
    import site

    before = list(sys.path)
    sites = [*site.getsitepackages(), site.getusersitepackages()]
    for directory in sites:
        if directory in before:  # only directories this interpreter already uses
            site.addsitedir(directory)
    importlib.invalidate_caches()
    _all_entry_points.cache_clear()
    added = [entry for entry in sys.path if entry not in before]
    if added:
        log.info("new on the import path: %s", ", ".join(added))
    return added


def installed_plugins(kind: str | None = None) -> list[InstalledPlugin]:
    """Every installed plugin (of one kind, or all), sorted by kind and name."""
    kinds = [_kind(kind)] if kind else list(KINDS.values())
    out = []
    for k in kinds:
        for ep in entry_points(k.group):
            out.append(InstalledPlugin(k.name, ep.name, ep.value, ep.distribution,
                                       ep.version))
    return sorted(out, key=lambda p: (p.kind, p.name))


def installed_names(kind: str) -> list[str]:
    return sorted(ep.name for ep in entry_points(_kind(kind).group))


class PluginManager:
    """A typed facade over a pluggy manager (as tox's ``Plugin``): one method per hook,
    so the rest of mcollective never calls ``pm.hook.x(...)`` untyped."""

    def __init__(self, pm: pluggy.PluginManager, *, load_entrypoints: bool = True) -> None:
        self.pm = pm
        self.load_entrypoints = load_entrypoints
        self._loaded: dict[tuple[str, str], LoadedPlugin] = {}

    # --- registration -------------------------------------------------------------

    def register(self, kind: str, name: str, obj: Any, *, distribution: str = "local",
                 version: str = "") -> LoadedPlugin:
        """Register ``obj`` as plugin ``name`` of ``kind`` (tests and in-process plugins)."""
        k = _kind(kind)
        try:
            if not self.pm.is_registered(obj):
                self.pm.register(obj, name=f"{kind}:{name}")
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            if self.pm.is_registered(obj):
                self.pm.unregister(obj)
            raise PluginLoadError(kind, name, distribution=distribution, cause=exc,
                                  installed=installed_names(kind)) from exc
        if self._impl_for(k, obj) is None:
            raise PluginLoadError(
                kind, name, distribution=distribution, installed=installed_names(kind),
                cause=TypeError(f"{_describe(obj)} does not implement {k.hook}"),
            )
        loaded = LoadedPlugin(kind, name, obj, distribution, version)
        self._loaded[(kind, name)] = loaded
        return loaded

    def unregister(self, kind: str, name: str) -> None:
        loaded = self._loaded.pop((kind, name), None)
        if loaded and not any(lp.obj is loaded.obj for lp in self._loaded.values()):
            self.pm.unregister(loaded.obj)

    def known_names(self, kind: str) -> list[str]:
        """Installed plugins of ``kind`` plus any registered by hand (tests, programs
        embedding mcollective)."""
        known = installed_names(kind) if self.load_entrypoints else []
        known += sorted(name for (k, name) in self._loaded if k == kind and name not in known)
        return known

    def loaded(self, kind: str | None = None) -> list[LoadedPlugin]:
        return [lp for (k, _), lp in self._loaded.items() if kind is None or k == kind]

    # --- loading ------------------------------------------------------------------

    def load(self, kind: str, name: str) -> LoadedPlugin:
        """Load and register one plugin by entry-point name, or raise PluginLoadError."""
        if (kind, name) in self._loaded:
            return self._loaded[(kind, name)]
        k = _kind(kind)
        eps = {ep.name: ep for ep in entry_points(k.group)} if self.load_entrypoints else {}
        ep = eps.get(name)
        if ep is None:
            raise PluginLoadError(kind, name, installed=eps, hint=install_hint(kind, name))
        try:
            obj = ep.load()
        except Exception as exc:
            raise PluginLoadError(kind, name, distribution=ep.distribution, cause=exc,
                                  installed=eps) from exc
        return self.register(kind, name, obj, distribution=ep.distribution,
                             version=ep.version)

    def load_all(self, kind: str, names: Iterable[str] | None = None, *,
                 exclude: Iterable[str] = ()) -> list[LoadedPlugin]:
        """Load several plugins, logging and skipping the broken ones.

        ``names`` given: those, in that order (explicit enabling). ``None``: every
        installed plugin of the kind minus ``exclude`` (enabled by installation).
        """
        if names is None:
            skip = set(exclude)
            names = [n for n in self.known_names(kind) if n not in skip]
        out = []
        for name in names:
            try:
                out.append(self.load(kind, name))
            except PluginLoadError as exc:
                log.error("%s", exc)
                log.debug("plugin load failure", exc_info=True)
        return out

    # --- calling ------------------------------------------------------------------

    def _impl_for(self, k: PluginKind, obj: Any) -> pluggy.HookImpl | None:
        caller = getattr(self.pm.hook, k.hook, None)
        if caller is None:
            return None
        for impl in caller.get_hookimpls():
            if impl.plugin is obj:
                return impl
        return None

    def call(self, plugin: LoadedPlugin, **kwargs: Any) -> Any:
        """Call the kind's factory hook on this one plugin.

        pluggy validated the implementation's signature when it was registered; here only
        the arguments the implementation asks for are passed (pluggy's opt-in args).
        """
        k = _kind(plugin.kind)
        impl = self._impl_for(k, plugin.obj)
        if impl is None:  # pragma: no cover - register() refuses such plugins
            raise PluginLoadError(plugin.kind, plugin.name, cause=TypeError("no hook"))
        kwargs.setdefault("name", plugin.name)
        try:
            args = [kwargs[a] for a in impl.argnames]
        except KeyError as exc:  # pragma: no cover - spec and call site disagree
            raise TypeError(f"{k.hook} called without {exc}") from None
        return impl.function(*args)

    def create(self, kind: str, name: str, *, required: bool, **kwargs: Any) -> Any:
        """Load plugin ``name`` and call its factory, wrapping failures with its name."""
        plugin = self.load(kind, name)
        try:
            result = self.call(plugin, **kwargs)
        except (ConfigError, PluginLoadError):
            raise
        except MCollectiveError as exc:
            raise PluginLoadError(kind, name, distribution=plugin.distribution,
                                  cause=exc) from exc
        except Exception as exc:
            if required:
                raise PluginLoadError(kind, name, distribution=plugin.distribution,
                                      cause=exc) from exc
            raise
        if result is None:
            raise PluginLoadError(kind, name, distribution=plugin.distribution,
                                  cause=TypeError(f"{_kind(kind).hook} returned None"))
        return result

    # --- typed facade: one method per hook ------------------------------------------

    def create_connector(self, config: Config) -> Connector:
        return self.create("connector", config.connector, required=True, config=config)

    def create_security(self, config: Config, role: Literal["client", "server"]
                        ) -> SecurityProvider:
        return self.create("security", config.securityprovider, required=True,
                           config=config, role=role)

    def create_facts_sources(self, config: Config) -> list[tuple[str, FactsSource]]:
        return self._create_optional("facts", config.factsource, config=config)

    def create_auditors(self, config: Config) -> list[tuple[str, Auditor]]:
        return self._create_optional("audit", config.rpcauditprovider, config=config)

    def create_registration(self, config: Config) -> RegistrationPlugin | None:
        made = self._create_optional("registration", [config.registration], config=config)
        return made[0][1] if made else None

    def create_authorizer(self, config: Config) -> Authorizer:
        # Config validation guarantees a provider whenever rpcauthorization is on.
        assert config.rpcauthprovider is not None
        return self.create("authorization", config.rpcauthprovider, required=True,
                           config=config)

    def create_discovery(self, name: str, config: Config) -> DiscoveryMethod:
        return self.create("discovery", name, required=True, config=config)

    def create_data_plugins(self, config: Config) -> list[tuple[str, DataPlugin]]:
        return self._create_optional("data", None, config=config)

    def create_aggregate(self, name: str, output: str, options: dict[str, Any]) -> Aggregate:
        return self.create("aggregate", name, required=True, output=output, options=options)

    def create_validator(self, name: str) -> Callable[[Any], None]:
        return self.create("validator", name, required=True)

    def application_class(self, name: str) -> type[Application]:
        return self.create("application", name, required=True)

    def agent_classes(self, config: Config, names: Iterable[str] | None = None,
                      *, exclude: Iterable[str] = ()) -> dict[str, type[Agent]]:
        """Agent classes by agent name, from every enabled agent plugin."""
        out: dict[str, type[Agent]] = {}
        for plugin in self.load_all("agent", names, exclude=exclude):
            try:
                classes: Sequence[type[Agent]] = self.call(plugin, config=config)
            except Exception:
                log.exception("agent plugin '%s' from %s failed to provide its agents",
                              plugin.name, plugin.distribution)
                continue
            for cls in classes or ():
                agent_name = getattr(cls, "agent_name", None) or plugin.name
                if agent_name in out:
                    log.warning("agent '%s' from plugin '%s' ignored: already provided",
                                agent_name, plugin.name)
                    continue
                out[agent_name] = cls
        return out

    def _create_optional(self, kind: str, names: Iterable[str] | None, **kwargs: Any
                         ) -> list[tuple[str, Any]]:
        out = []
        for plugin in self.load_all(kind, names):
            try:
                result = self.call(plugin, **kwargs)
            except ConfigError:
                raise
            except Exception:
                log.exception("%s plugin '%s' from %s failed; continuing without it",
                              kind, plugin.name, plugin.distribution)
                continue
            if result is not None:
                out.append((plugin.name, result))
        return out


def _describe(obj: Any) -> str:
    return getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or repr(obj)


def make_plugin_manager(*, load_entrypoints: bool = True) -> PluginManager:
    """Build a fresh plugin manager with every hook specification added.

    ``load_entrypoints=False`` gives a manager that only knows what is registered by
    hand, for tests (as devpi's ``get_pluginmanager``).
    """
    pm = pluggy.PluginManager(PROJECT)
    for modname in SPEC_MODULES:
        pm.add_hookspecs(importlib.import_module(modname))
    return PluginManager(pm, load_entrypoints=load_entrypoints)
