"""mkdocs-gen-files script: one page per distribution, made from its README.

Every ``core`` and ``contrib/<kind>/<name>`` distribution found (nothing listed by hand)
becomes ``plugins/<distribution name>.md``, and ``plugins/index.md`` lists them all. The
READMEs link to this site with absolute addresses (they are also the package index's
pages); here those links become relative, so that ``mkdocs build --strict`` checks
that each one leads to a page that exists.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import mkdocs_gen_files

ROOT = Path(__file__).resolve().parents[1]
SITE = "https://mcollective-py.readthedocs.io/en/latest/"
LINK = re.compile(re.escape(SITE) + r"([^)\s#>]*)(#[^)\s>]*)?")


def distributions() -> list[tuple[str, str, Path]]:
    """(name, description, directory) of core and every contrib distribution."""
    found = []
    contrib = sorted(p.parent for p in ROOT.glob("contrib/*/*/pyproject.toml"))
    for directory in [ROOT / "core", *contrib]:
        project = tomllib.loads((directory / "pyproject.toml").read_text())["project"]
        found.append((project["name"], project["description"], directory))
    return found


def relative(match: re.Match[str]) -> str:
    """A link to this site, as seen from ``plugins/<page>.md``."""
    path, anchor = match.group(1).strip("/"), match.group(2) or ""
    if not path:
        target = "../index.md"
    elif path.startswith("plugins/"):
        target = f"{path.removeprefix('plugins/')}.md" if path != "plugins" else "index.md"
    elif (ROOT / "docs" / path).is_dir():
        target = f"../{path}/index.md"
    else:
        target = f"../{path}.md"
    return target + anchor


def page(readme: str) -> str:
    """Markdown links ``[text](address)`` keep their text; a bare address becomes a
    link showing the address."""
    out = []
    pos = 0
    for match in LINK.finditer(readme):
        out.append(readme[pos:match.start()])
        if readme[max(match.start() - 2, 0):match.start()] == "](":
            out.append(relative(match))
        else:
            out.append(f"[{match.group(0)}]({relative(match)})")
        pos = match.end()
    out.append(readme[pos:])
    return "".join(out)


listing = ["# Distributions\n",
           "Each distribution is installed on its own from the package index; "
           "`mcollective-core[server]` and `mcollective-core[client]` install the usual "
           "sets ([installing](../install.md)).\n",
           "| distribution | what it is |", "|---|---|"]
for name, description, directory in distributions():
    with mkdocs_gen_files.open(f"plugins/{name}.md", "w") as out:
        out.write(page((directory / "README.md").read_text(encoding="utf-8")))
    mkdocs_gen_files.set_edit_path(f"plugins/{name}.md",
                                   f"../{directory.relative_to(ROOT)}/README.md")
    listing.append(f"| [{name}]({name}.md) | {description} |")
with mkdocs_gen_files.open("plugins/index.md", "w") as out:
    out.write("\n".join(listing) + "\n")
