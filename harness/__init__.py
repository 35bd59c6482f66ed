"""Event-storm chaos harness: load, faults, history, checks and reports for event-driven systems."""

__version__ = "0.1.0"

__all__ = ["__version__"]
