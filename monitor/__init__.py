"""outreach-monitor: the core and the daemon."""

__version__ = "0.1.0"
