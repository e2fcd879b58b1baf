"""Declarative mappings from message formats to the canonical cargo model."""
