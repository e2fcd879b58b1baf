"""edigate: EDI message gateway for a customs trade single window."""

__version__ = "0.1.0"
