"""Rule sets (which rules, with which parameters and severities, per document type) as TOML data,
and running them on a canonical document.

A rule set file (``gateway/rules/default.toml`` is the one shipped)::

    [rule_set]
    name = "default"
    description = "..."

    [document_types]                     # document type -> rule codes, in any order
    cargo_report = ["R001", "R002", ...]
    declaration = ["R001", ...]

    [rules.R010]                         # parameters and severity of one rule
    tolerance_percent = 1.0
    tolerance_kg = 1.0
    severity = "warning"                 # optional: the rule's own severity otherwise

A partner profile is a rule set that ``extends`` another and changes what differs::

    [rule_set]
    name = "pocl"
    extends = "default"                  # a rule set in gateway/rules, or a path next to this one
    partners = ["POCLHKG"]               # interchange senders (UNB S002 0004) it applies to

    [document_types.cargo_report]
    disable = ["R013"]                   # or enable = [...], or rules = [...] to replace the list
    # (a plain list, as in default.toml, replaces the inherited list)

    [rules.R010]
    tolerance_percent = 2.0              # overrides the inherited value; other values are kept

    [rules.R014]
    enabled = false                      # off for every document type

Files are checked when loaded: unknown sections, keys, document types, rule codes, parameters,
parameter kinds and severities are refused (:class:`RuleSetError`), and every rule a document type
uses must have all its parameters once the chain of ``extends`` is merged.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, get_args

from edigate.canonical.model import CanonicalDocument, DocumentType, Provenance, SourcePosition

from .catalogue import RULES, SEVERITIES, Context, ParamKind

RULES_DIR = Path(__file__).parent
#: where :func:`rule_set_for_partner` looks for partner profiles
PROFILES_DIR = RULES_DIR
DEFAULT = "default"
DOCUMENT_TYPES: tuple[str, ...] = get_args(DocumentType)

_SECTIONS = frozenset(("rule_set", "document_types", "rules"))
_RULE_SET_KEYS = frozenset(("name", "description", "extends", "partners"))
_LIST_INDEX = re.compile(r"\[\d+\]$")


class RuleSetError(ValueError):
    """A rule set file is not well formed, or names rules, types or parameters that do not
    exist."""


@dataclass(frozen=True, slots=True)
class RuleFinding:
    """A business-rule finding: rule code, severity, plain text, and where: the canonical path
    and, when the mapping recorded it, the position in the submitted document."""

    code: str
    severity: str  # "error" or "warning"
    text: str
    path: str  # canonical path, e.g. transport_equipment[0].identifier
    source: SourcePosition | None = None
    value: str | None = None

    def as_dict(self) -> dict[str, Any]:
        s = self.source
        return {
            "code": self.code,
            "severity": self.severity,
            "text": self.text,
            "path": self.path,
            "value": self.value,
            "source": None if s is None else {
                "segment_tag": s.segment_tag,
                "segment_position": s.segment_position,
                "element": s.element,
                "component": s.component,
                "line": s.line,
                "xpath": s.xpath,
            },
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class RuleSet:
    name: str
    #: document type -> rule codes (sorted)
    document_types: Mapping[str, tuple[str, ...]]
    #: rule code -> parameter name -> value (numbers as Decimal)
    parameters: Mapping[str, Mapping[str, Any]]
    #: rule code -> severity, where the rule set changes the rule's own
    severities: Mapping[str, str] = field(default_factory=dict)
    partners: tuple[str, ...] = ()
    description: str = ""
    source: Path | None = None

    def rules_for(self, document_type: str) -> tuple[str, ...]:
        return self.document_types.get(document_type, ())

    def severity(self, code: str) -> str:
        return self.severities.get(code) or RULES[code].severity


# -- loading ----------------------------------------------------------------------------------


def _convert(value: Any, kind: ParamKind, where: str) -> Any:
    def bad() -> RuleSetError:
        return RuleSetError(f"{where}: expected {kind}, got {value!r}")

    if kind == "bool":
        if not isinstance(value, bool):
            raise bad()
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad()
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad()
        return Decimal(str(value))
    if not isinstance(value, list):
        raise bad()
    item = str if kind == "list[str]" else int
    if any(isinstance(v, bool) or not isinstance(v, item) for v in value):
        raise bad()
    return tuple(value)


def _codes(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise RuleSetError(f"{where}: expected a list of rule codes")
    unknown = [c for c in value if c not in RULES]
    if unknown:
        raise RuleSetError(f"{where}: unknown rule code(s) {unknown}")
    return value


def _resolve(name: str, relative_to: Path | None = None) -> Path:
    """A rule set name (``default``: gateway/rules/default.toml) or a file path."""
    candidate = Path(name)
    if candidate.suffix == ".toml" or len(candidate.parts) > 1:
        if relative_to is not None and not candidate.is_absolute():
            beside = relative_to.parent / candidate
            if beside.exists():
                return beside
        return candidate
    if relative_to is not None:
        beside = relative_to.parent / f"{name}.toml"
        if beside.exists():
            return beside
    return RULES_DIR / f"{name}.toml"


def _load(path: Path, chain: tuple[Path, ...]) -> RuleSet:
    where = path.name
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise RuleSetError(f"{where}: {exc}") from None
    unknown = set(raw) - _SECTIONS
    if unknown:
        raise RuleSetError(f"{where}: unknown sections {sorted(unknown)}")
    meta = raw.get("rule_set", {})
    if not isinstance(meta, dict) or set(meta) - _RULE_SET_KEYS:
        raise RuleSetError(f"{where}: [rule_set] keys are {sorted(_RULE_SET_KEYS)}")

    doc_types: dict[str, list[str]] = {}
    parameters: dict[str, dict[str, Any]] = {}
    severities: dict[str, str] = {}
    if "extends" in meta:
        base_path = _resolve(str(meta["extends"]), path).resolve()
        if base_path in chain:
            raise RuleSetError(f"{where}: extends {meta['extends']!r} in a cycle")
        try:
            base = _load(base_path, (*chain, base_path))
        except OSError as exc:
            raise RuleSetError(f"{where}: extends {meta['extends']!r}: {exc}") from None
        doc_types = {k: list(v) for k, v in base.document_types.items()}
        parameters = {k: dict(v) for k, v in base.parameters.items()}
        severities = dict(base.severities)

    for dtype, spec in raw.get("document_types", {}).items():
        here = f"{where} [document_types] {dtype}"
        if dtype not in DOCUMENT_TYPES:
            raise RuleSetError(f"{here}: not a document type of the model {list(DOCUMENT_TYPES)}")
        if isinstance(spec, list):
            doc_types[dtype] = _codes(spec, here)
            continue
        if not isinstance(spec, dict) or set(spec) - {"rules", "enable", "disable"}:
            raise RuleSetError(f"{here}: a list of codes or a table of rules/enable/disable")
        codes = _codes(spec["rules"], here) if "rules" in spec else doc_types.get(dtype, [])
        codes = [*codes, *_codes(spec.get("enable", []), f"{here} enable")]
        off = set(_codes(spec.get("disable", []), f"{here} disable"))
        doc_types[dtype] = [c for c in codes if c not in off]

    for code, settings in raw.get("rules", {}).items():
        here = f"{where} [rules.{code}]"
        if code not in RULES:
            raise RuleSetError(f"{here}: unknown rule code")
        if not isinstance(settings, dict):
            raise RuleSetError(f"{here}: expected a table")
        kinds = dict(RULES[code].parameters)
        for key, value in settings.items():
            if key == "severity":
                if value not in SEVERITIES:
                    raise RuleSetError(f"{here}: severity is one of {list(SEVERITIES)}")
                severities[code] = value
            elif key == "enabled":
                if value is not False:
                    raise RuleSetError(f"{here}: enabled = false switches a rule off; switch "
                                       "it on in [document_types]")  # fmt: skip
                doc_types = {k: [c for c in v if c != code] for k, v in doc_types.items()}
            elif key in kinds:
                parameters.setdefault(code, {})[key] = _convert(value, kinds[key],
                                                                f"{here} {key}")  # fmt: skip
            else:
                known = sorted([*kinds, "severity", "enabled"])
                raise RuleSetError(f"{here}: unknown key {key!r} (known: {known})")

    for dtype, codes in doc_types.items():
        for code in codes:
            missing = [k for k, _ in RULES[code].parameters if k not in parameters.get(code, {})]
            if missing:
                raise RuleSetError(f"{where}: {dtype} uses {code}, whose parameters {missing} "
                                   "are not set")  # fmt: skip
    partners = meta.get("partners", [])
    if not isinstance(partners, list) or not all(isinstance(x, str) for x in partners):
        raise RuleSetError(f"{where}: partners is a list of sender ids")
    return RuleSet(
        name=str(meta.get("name", path.stem)),
        document_types={k: tuple(sorted(set(v))) for k, v in doc_types.items()},
        parameters=parameters,
        severities=severities,
        partners=tuple(partners),
        description=str(meta.get("description", "")),
        source=path,
    )


@lru_cache(maxsize=64)
def _load_cached(path: Path, mtime_ns: int) -> RuleSet:
    return _load(path, (path,))


def load_rule_set(name: str | Path = DEFAULT) -> RuleSet:
    """A rule set by name (a file in gateway/rules) or path. Raises OSError when the file cannot
    be read, :class:`RuleSetError` when it is not a valid rule set."""
    path = (name if isinstance(name, Path) else _resolve(name)).resolve()
    return _load_cached(path, path.stat().st_mtime_ns)


def rule_set_for_partner(sender: str | None, directory: Path | None = None) -> RuleSet:
    """The partner profile in ``directory`` (default :data:`PROFILES_DIR`, gateway/rules) whose
    ``partners`` list ``sender``; else the default rule set. Two profiles naming the same sender
    are an error."""
    if sender:
        found = []
        for path in sorted((directory or PROFILES_DIR).glob("*.toml")):
            rs = load_rule_set(path)
            if sender in rs.partners:
                found.append(rs)
        if len(found) > 1:
            names = [str(rs.source.name if rs.source else rs.name) for rs in found]
            raise RuleSetError(f"partner {sender!r} is listed in several profiles: {names}")
        if found:
            return found[0]
    return load_rule_set(DEFAULT)


# -- checking ---------------------------------------------------------------------------------


def source_of(provenance: Provenance | None, path: str) -> SourcePosition | None:
    """The source position recorded for canonical ``path``: the field itself, the ``value`` of a
    measure or amount, the ``[]`` entry of a list of plain values (which records its first value),
    or else the first position recorded below ``path``."""
    if provenance is None:
        return None
    fields = provenance.fields
    for key in (path, f"{path}.value", _LIST_INDEX.sub("[]", path)):
        if key in fields:
            return fields[key]
    prefix = f"{path}."
    return next((pos for key, pos in fields.items() if key.startswith(prefix)), None)


def check_document(doc: CanonicalDocument, rule_set: RuleSet | None = None,
                   now: datetime | None = None,
                   only: Iterable[str] | None = None) -> list[RuleFinding]:  # fmt: skip
    """Run the rules of ``rule_set`` (default: the default rule set) for the document's type.

    ``now`` is the time of checking for the date rules (default: the current time); ``only``
    restricts to some rule codes (they must still be in the rule set for this document type).
    Findings are sorted by source line when known, then by rule code and path.
    """
    rs = rule_set or load_rule_set(DEFAULT)
    ctx = Context(doc, now or datetime.now(UTC))
    wanted = set(only) if only is not None else None
    findings = []
    for code in rs.rules_for(doc.header.type):
        if wanted is not None and code not in wanted:
            continue
        rule = RULES[code]
        params = dict(rs.parameters.get(code, {}))
        severity = rs.severity(code)
        for hit in rule.check(ctx, params):
            findings.append(RuleFinding(code, severity, hit.text, hit.path,
                                        source_of(doc.provenance, hit.path), hit.value))
    findings.sort(key=lambda f: (f.source is None, (f.source.line or 0) if f.source else 0,
                                 f.code, f.path))  # fmt: skip
    return findings


__all__ = [
    "DEFAULT",
    "DOCUMENT_TYPES",
    "PROFILES_DIR",
    "RULES_DIR",
    "RuleFinding",
    "RuleSet",
    "RuleSetError",
    "check_document",
    "load_rule_set",
    "rule_set_for_partner",
    "source_of",
]
