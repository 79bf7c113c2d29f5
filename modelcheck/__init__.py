"""modelcheck: a model checker for locking and race protocols in Linux mm code."""

__version__ = "0.1.0"
