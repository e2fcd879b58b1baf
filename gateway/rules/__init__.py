"""Business rules on the canonical model: check digits, code lists, totals, plausible dates.

These are separate from the EDIFACT syntax checks (``edigate.edifact.validator``): they read a
:class:`~edigate.canonical.model.CanonicalDocument`, whatever format it was mapped from, and point
at the canonical path of a value and, through the document's provenance, at the segment, element
and line it came from.

- :mod:`edigate.rules.checks`: check-digit and code-format functions (ISO 6346, IMO, IATA AWB,
  UN/LOCODE, HS, ISO 3166-1, ISO 4217);
- :mod:`edigate.rules.catalogue`: the rules, by stable code (R001...);
- :mod:`edigate.rules.ruleset`: rule sets and partner profiles as TOML data
  (``gateway/rules/*.toml``), and :func:`check_document`.
"""

from .catalogue import RULES, Rule
from .ruleset import (
    DEFAULT,
    RULES_DIR,
    RuleFinding,
    RuleSet,
    RuleSetError,
    check_document,
    load_rule_set,
    rule_set_for_partner,
    source_of,
)

__all__ = [
    "DEFAULT",
    "RULES",
    "RULES_DIR",
    "Rule",
    "RuleFinding",
    "RuleSet",
    "RuleSetError",
    "check_document",
    "load_rule_set",
    "rule_set_for_partner",
    "source_of",
]
