"""The federation broker of mcollective (as MCollective's and Choria's): a process
connected to two middlewares that forwards the requests clients on one publish into
the collectives behind the other, and routes the replies back.

* **authenticated**: each request is verified with the collective's security plugin
  before it is forwarded (forged, expired or not-allowed callers are refused), and
  each reply before it is sent back; the broker logs in to each middleware with an
  account of its own (``mco broker rabbitmq``: ``federations``);
* **audited**: one JSON line per request forwarded or refused;
* **loop-free**: each request carries a ``seen_by`` trace (outside the signed bytes);
  a broker that finds its own name there drops the request, and ``max_hops`` bounds
  the trace.

The signed request is forwarded unchanged: nodes see the original caller, so their
authorization applies as if the client were local; replies go to the client's own
reply destination through the broker. See ``docs/federation.md``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
