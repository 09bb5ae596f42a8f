"""The one helper for untrusted values in log lines, and the formatter behind it."""

from __future__ import annotations

import logging

from mcollective.log import UNTRUSTED_LIMIT, SafeFormatter, untrusted


def test_untrusted_escapes_every_control_character() -> None:
    assert untrusted("plain value, é ü") == "plain value, é ü"
    assert untrusted("a\nb") == "a\\x0ab"
    assert untrusted("\x1b[31m\x00\r\t\x7f\x85") == "\\x1b[31m\\x00\\x0d\\x09\\x7f\\x85"
    assert untrusted("\u2028\u2029\u202e") == "\\u2028\\u2029\\u202e"
    # A literal backslash sequence cannot pass for an escaped one.
    assert untrusted("\\x0a") == "\\\\x0a"
    assert untrusted(ValueError("bad\nthing")) == "bad\\x0athing"


def test_untrusted_is_bounded() -> None:
    text = untrusted("x" * 10_000)
    assert text.startswith("x" * UNTRUSTED_LIMIT)
    assert text.endswith(f"...(+{10_000 - UNTRUSTED_LIMIT} chars)")
    assert len(untrusted("\n" * 10_000)) < 5 * UNTRUSTED_LIMIT


def test_safe_formatter_keeps_one_line_per_record_but_tracebacks_intact() -> None:
    formatter = SafeFormatter("%(levelname)s %(message)s")
    record = logging.LogRecord("t", logging.WARNING, __file__, 1, "got %s", ("a\nFORGED",),
                               None)
    assert formatter.format(record) == "WARNING got a\\x0aFORGED"
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", (),
                                   sys.exc_info())
    out = formatter.format(record)
    assert out.startswith("ERROR failed\nTraceback")
