"""bridge_service: the AUREN webhook bridge (verify, store once, publish)."""

__version__ = "0.1.0"
