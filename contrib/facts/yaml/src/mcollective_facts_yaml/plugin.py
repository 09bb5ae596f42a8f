"""Entry point ``yaml`` of group ``mcollective.facts``: the files come from
``plugin.yaml``, or the default location next to the configuration file."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from mcollective import hookimpl
from mcollective_facts_yaml.source import FactsFile, YamlFactsSource

if TYPE_CHECKING:
    from mcollective.config import Config

PLUGIN = "yaml"
DEFAULT_FILE_NAME = "facts.yaml"


def _path_list(value: Any) -> list[str]:
    paths = [p.strip() for p in str(value).split(os.pathsep) if p.strip()]
    if not paths:
        raise ValueError(f"expected one or more YAML files separated by '{os.pathsep}'")
    return paths


SCHEMA = {"": _path_list}


def facts_files(config: Config) -> list[FactsFile]:
    """The files to read, in override order (later wins).

    ``plugin.yaml`` when set, relative entries taken from the configuration file's
    directory; otherwise ``facts.yaml`` beside the configuration file, or in the state
    directory when no configuration file is in use.
    """
    values = config.plugin_config(PLUGIN, SCHEMA)
    if "" in values:
        return [FactsFile(config.resolve_path(p), configured=True) for p in values[""]]
    base = config.configdir if config.configdir is not None else config.statedir
    return [FactsFile(base / DEFAULT_FILE_NAME, configured=False)]


@hookimpl
def mco_facts_create(config: Config) -> YamlFactsSource:
    """Create the yaml facts source; files are first read on the first ``get``."""
    return YamlFactsSource(facts_files(config))
