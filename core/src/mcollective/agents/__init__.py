"""Core's own agents: ``rpcutil`` and ``discovery``, declared as entry points."""
