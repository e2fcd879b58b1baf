"""Group instances of a message for the mappings: see :mod:`edigate.edifact.tree` (the validator
builds them as it walks a message it keeps; ``build_tree`` walks segments from elsewhere)."""

from edigate.edifact.tree import GroupInstance, build_tree

__all__ = ["GroupInstance", "build_tree"]
