"""``flatfile``: the nodes listed in a file (``--nodes FILE`` or ``--dm flatfile --do FILE``)."""

from __future__ import annotations

from pathlib import Path

from mcollective.discovery import (
    DiscoveryError,
    DiscoveryMethod,
    DiscoveryRequest,
    select_identities,
)
from mcollective.discovery_methods.nodelist import FORMATS, parse_node_list
from mcollective.hookspecs import hookimpl

_SUFFIX_FORMATS = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}


class FlatfileDiscovery(DiscoveryMethod):
    """Read identities from a text, JSON or YAML file.

    Options: ``--do FILE`` (or ``file=FILE``) and ``--do format=text|json|yaml``
    (default: by the file's suffix, else by its content). Only ``-I`` filters can be
    applied to a list; they are applied here, locally.
    """

    name = "flatfile"
    default_timeout = 0.0
    uses_timeout = False
    capabilities = frozenset({"identity"})
    broadcast = False

    def discover(self, request: DiscoveryRequest) -> list[str]:
        options = request.option_map(positional="file", known=("file", "format"))
        filename = options.get("file")
        if not filename:
            raise DiscoveryError("the flatfile discovery method needs a file: "
                                 "--nodes FILE or --dm flatfile --do FILE")
        path = Path(filename).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise DiscoveryError(f"cannot read node list {path}: "
                                 f"{exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise DiscoveryError(f"{path}: not UTF-8 text ({exc.reason})") from None
        fmt = options.get("format") or _SUFFIX_FORMATS.get(path.suffix.lower(), "auto")
        if fmt not in FORMATS:
            raise DiscoveryError(f"unknown node list format {fmt!r}; use one of "
                                 f"{', '.join(FORMATS)}")
        nodes = parse_node_list(text, source=str(path), format=fmt)
        return select_identities(nodes, request.filter)

    @hookimpl
    @classmethod
    def mco_discovery_create(cls) -> DiscoveryMethod:
        return cls()
