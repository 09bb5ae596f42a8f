"""Splitting package versions into the parts the agent reports."""

from __future__ import annotations


def split_deb_version(full: str) -> tuple[str, str, str | None]:
    """``[epoch:]upstream[-revision]`` → ``(epoch, upstream, revision)``.

    The epoch defaults to ``"0"`` (as the reply of a yum node says ``"0"``); the
    revision is everything after the *last* hyphen, and ``None`` for native packages.
    """
    epoch, sep, rest = full.partition(":")
    if not sep:
        epoch, rest = "0", full
    upstream, sep, revision = rest.rpartition("-")
    if not sep:
        return epoch, rest, None
    return epoch, upstream, revision


def rpm_ensure(epoch: str, version: str, release: str) -> str:
    """The full version as Puppet's yum provider reports it: ``version-release``, with
    ``epoch:`` in front only when the epoch is not 0."""
    core = f"{version}-{release}"
    return core if epoch in ("", "0", "(none)") else f"{epoch}:{core}"
