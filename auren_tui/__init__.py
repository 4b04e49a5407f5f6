"""auren-tui: a terminal workstation for the AUREN biometric platform."""

__version__ = "0.1.0"
