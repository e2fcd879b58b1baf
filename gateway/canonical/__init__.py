"""Canonical cargo model: the one shape backends and matching see, whatever the input."""
