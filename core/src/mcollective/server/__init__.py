"""The node daemon, ``mcollectived``."""
