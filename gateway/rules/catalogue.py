"""The business rules: one function per rule code, reading a canonical document.

A rule yields :class:`Hit`s (canonical path, text, value); :mod:`edigate.rules.ruleset` turns them
into findings with the severity its rule set gives and the source position the mapping recorded.
Which rules run for which document type, their parameters (tolerances, windows, allowed lengths)
and severities are data (``gateway/rules/*.toml``), not code: a rule here only declares the
parameters it reads and their kinds.

Codes are stable: a code is never reused for another check. docs/canonical.md lists them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any, Literal, TypeVar

from msgspec import Struct

from edigate.canonical.model import (
    Address,
    Amount,
    BorderTransportMeans,
    CanonicalDocument,
    Consignment,
    DangerousGoods,
    GoodsItem,
    Location,
    Measure,
    Packaging,
    TransportDocument,
    TransportEquipment,
)

from . import checks

Severity = Literal["error", "warning"]
SEVERITIES: tuple[str, ...] = ("error", "warning")
S = TypeVar("S", bound=Struct)

#: parameter kinds a rule can declare (how TOML values are checked and converted)
ParamKind = Literal["number", "int", "bool", "list[str]", "list[int]"]

#: mass units (UN/ECE Rec 20) the total checks convert, in kilograms
KILOGRAMS: dict[str, Decimal] = {
    "KGM": Decimal(1),
    "TNE": Decimal(1000),
    "GRM": Decimal("0.001"),
    "LBR": Decimal("0.45359237"),
}


@dataclass(frozen=True, slots=True)
class Hit:
    """What a rule found: the canonical path it is about, plain text, the offending value."""

    path: str
    text: str
    value: str | None = None


class Context:
    """One document prepared for the rules: its objects by model class (with their canonical
    paths, in document order), and the time of checking."""

    __slots__ = ("by_class", "doc", "now")

    def __init__(self, doc: CanonicalDocument, now: datetime) -> None:
        self.doc = doc
        self.now = now
        self.by_class: dict[type, list[tuple[str, Struct]]] = {}
        for path, obj in walk(doc):
            self.by_class.setdefault(type(obj), []).append((path, obj))

    def each(self, cls: type[S]) -> list[tuple[str, S]]:
        """Every object of the model class ``cls`` (exactly) in the document, with its path."""
        return self.by_class.get(cls, [])  # type: ignore[return-value]


def walk(obj: Struct, path: str = "") -> Iterator[tuple[str, Struct]]:
    """``obj`` and every model object below it, depth first, with canonical paths such as
    ``consignments[0].items[1]`` (the paths provenance uses). Provenance itself is skipped.
    Iterative (an explicit stack, children pushed in reverse): nested generators cost more
    than the rules themselves on every document."""
    stack = [(path, obj)]
    while stack:
        path, obj = stack.pop()
        yield path, obj
        children: list[tuple[str, Struct]] = []
        for name in _fields(type(obj)):
            value = getattr(obj, name)
            if value is None:
                continue
            here = f"{path}.{name}" if path else name
            if isinstance(value, Struct):
                children.append((here, value))
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, Struct):
                        children.append((f"{here}[{i}]", item))
        if children:
            children.reverse()
            stack.extend(children)


@cache
def _fields(cls: type[Struct]) -> tuple[str, ...]:
    return tuple(n for n in cls.__struct_fields__ if n != "provenance")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _kilograms(m: Measure) -> Decimal | None:
    factor = KILOGRAMS.get(m.unit.upper())
    return None if factor is None else m.value * factor


def _number(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros (12480.50 -> 12480.5)."""
    return format(value.normalize(), "f")


CheckFn = Callable[[Context, dict[str, Any]], Iterator[Hit]]


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    title: str
    severity: Severity  # default; a rule set may change it
    check: CheckFn
    parameters: tuple[tuple[str, ParamKind], ...] = ()


RULES: dict[str, Rule] = {}


def rule(code: str, title: str, severity: Severity,
         **parameters: ParamKind) -> Callable[[CheckFn], CheckFn]:  # fmt: skip
    def register(fn: CheckFn) -> CheckFn:
        assert code not in RULES, code
        RULES[code] = Rule(code, title, severity, fn, tuple(parameters.items()))
        return fn

    return register


# -- identifiers with check digits -------------------------------------------------------------


@rule("R001", "container id: ISO 6346 format and check digit", "error",
      equipment_types="list[str]", check_untyped="bool")  # fmt: skip
def container_ids(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    for path, eq in ctx.each(TransportEquipment):
        if eq.type is None and not p["check_untyped"]:
            continue
        if eq.type is not None and eq.type not in p["equipment_types"]:
            continue
        problem = checks.container_problem(eq.identifier)
        if problem:
            yield Hit(_join(path, "identifier"), f"container {eq.identifier!r}: {problem}",
                      eq.identifier)  # fmt: skip


@rule("R002", "IMO ship identification number: 7 digits and check digit", "error")
def imo_numbers(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    for path, means in ctx.each(BorderTransportMeans):
        if means.identifier_type == "IMO" and means.identifier:
            problem = checks.imo_problem(means.identifier)
            if problem:
                yield Hit(_join(path, "identifier"), f"IMO number {means.identifier!r}: {problem}",
                          means.identifier)  # fmt: skip


@rule("R003", "air waybill number: 11 digits, serial check digit modulo 7", "error",
      document_types="list[str]")  # fmt: skip
def air_waybills(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    for path, td in ctx.each(TransportDocument):
        if td.type in p["document_types"]:
            problem = checks.awb_problem(td.identifier)
            if problem:
                text = f"air waybill {td.identifier!r} ({td.type}): {problem}"
                yield Hit(_join(path, "identifier"), text, td.identifier)


# -- code lists and formats --------------------------------------------------------------------


@rule("R004", "UN/LOCODE format: ISO 3166-1 country + 3 characters A-Z, 2-9", "error",
      extra_countries="list[str]")  # fmt: skip
def locodes(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    for path, loc in ctx.each(Location):
        if loc.code and loc.scheme is None:  # no scheme: UN/LOCODE (canonical model)
            problem = checks.locode_problem(loc.code, p["extra_countries"])
            if problem:
                yield Hit(_join(path, "code"), f"UN/LOCODE {loc.code!r}: {problem}", loc.code)


@rule("R005", "HS code: digits, 6 to 8 or 10", "error", lengths="list[int]")
def hs_codes(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    for path, item in ctx.each(GoodsItem):
        if item.hs_code is not None:
            problem = checks.hs_code_problem(item.hs_code, p["lengths"])
            if problem:
                yield Hit(_join(path, "hs_code"), f"HS code {item.hs_code!r}: {problem}",
                          item.hs_code)  # fmt: skip


@rule("R006", "country codes: ISO 3166-1 alpha-2", "error",
      extra_codes="list[str]", location_schemes="list[str]")  # fmt: skip
def countries(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    extra = p["extra_codes"]
    found: list[tuple[str, str]] = []
    for path, address in ctx.each(Address):
        if address.country is not None:
            found.append((_join(path, "country"), address.country))
    for path, item in ctx.each(GoodsItem):
        if item.origin_country is not None:
            found.append((_join(path, "origin_country"), item.origin_country))
    for path, means in ctx.each(BorderTransportMeans):
        if means.nationality is not None:
            found.append((_join(path, "nationality"), means.nationality))
    for path, loc in ctx.each(Location):
        if loc.code and loc.scheme in p["location_schemes"]:
            found.append((_join(path, "code"), loc.code))
    for path, code in found:
        problem = checks.country_problem(code, extra)
        if problem:
            yield Hit(path, f"country {code!r}: {problem}", code)


@rule("R007", "currency codes: ISO 4217", "error")
def currencies(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    for path, amount in ctx.each(Amount):
        if amount.currency is not None:
            problem = checks.currency_problem(amount.currency)
            if problem:
                yield Hit(_join(path, "currency"), f"currency {amount.currency!r}: {problem}",
                          amount.currency)  # fmt: skip


# -- quantities --------------------------------------------------------------------------------


@rule("R008", "masses, volumes and quantities are positive", "error")
def positive_measures(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    for path, m in ctx.each(Measure):
        if m.value <= 0:
            name = path.rsplit(".", 1)[-1].replace("_", " ")
            yield Hit(path, f"{name} {_number(m.value)} {m.unit} is not positive",
                      _number(m.value))  # fmt: skip


@rule("R009", "package counts are positive", "error")
def positive_counts(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    for path, pack in ctx.each(Packaging):
        if pack.count is not None and pack.count <= 0:
            yield Hit(_join(path, "count"), f"package count {pack.count} is not positive",
                      str(pack.count))  # fmt: skip
    for path, c in ctx.each(Consignment):
        if c.total_packages is not None and c.total_packages <= 0:
            yield Hit(_join(path, "total_packages"),
                      f"total package count {c.total_packages} is not positive",
                      str(c.total_packages))  # fmt: skip


def _parts_mass(c: Consignment) -> tuple[list[Measure | None], str]:
    if c.items:
        return [i.gross_mass for i in c.items], "items' gross masses"
    return [h.total_gross_mass for h in c.house_consignments], "house consignments' gross masses"


@rule("R010", "consignment total gross mass = sum of its items' (within a tolerance)", "error",
      tolerance_percent="number", tolerance_kg="number")  # fmt: skip
def total_gross_mass(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    for path, c in ctx.each(Consignment):
        if c.total_gross_mass is None:
            continue
        parts, what = _parts_mass(c)
        if not parts or any(m is None for m in parts):
            continue  # nothing to add up, or a part without mass: no sum to compare
        total = _kilograms(c.total_gross_mass)
        masses = [_kilograms(m) for m in parts if m is not None]
        if total is None or any(m is None for m in masses):
            continue  # a unit that is not a mass unit we know
        summed = sum((m for m in masses if m is not None), Decimal(0))
        relative = abs(total) * Decimal(p["tolerance_percent"]) / 100
        allowed = max(Decimal(p["tolerance_kg"]), relative)
        if abs(total - summed) > allowed:
            yield Hit(_join(path, "total_gross_mass"),
                      f"total gross mass {_number(total)} kg differs from the sum of the {what} "
                      f"({_number(summed)} kg) by {_number(abs(total - summed))} kg; tolerance "
                      f"{_number(allowed)} kg", _number(c.total_gross_mass.value))  # fmt: skip


def _item_packages(item: GoodsItem) -> int | None:
    """The item's package count: its first (outermost) packaging level; inner levels are
    packages within those, not more packages."""
    return item.packaging[0].count if item.packaging else None


@rule("R011", "consignment total packages = sum of its items' package counts", "error",
      tolerance="int")  # fmt: skip
def total_packages(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    for path, c in ctx.each(Consignment):
        if c.total_packages is None:
            continue
        if c.items:
            counts = [_item_packages(i) for i in c.items]
            what = "items' package counts"
        else:
            counts = [h.total_packages for h in c.house_consignments]
            what = "house consignments' package counts"
        if not counts or any(n is None for n in counts):
            continue
        summed = sum(n for n in counts if n is not None)
        if abs(c.total_packages - summed) > p["tolerance"]:
            yield Hit(_join(path, "total_packages"),
                      f"total packages {c.total_packages} differ from the sum of the {what} "
                      f"({summed})", str(c.total_packages))  # fmt: skip


# -- dates -------------------------------------------------------------------------------------


def _when(t: datetime) -> str:
    return t.isoformat(timespec="minutes")


@rule("R012", "issue time not in the future", "error", max_future_hours="number")
def issue_time(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    t = ctx.doc.header.issue_time
    if t is not None and t > ctx.now + timedelta(hours=float(p["max_future_hours"])):
        yield Hit("header.issue_time",
                  f"issue time {_when(t)} is more than {p['max_future_hours']} hour(s) after "
                  f"the time of checking ({_when(ctx.now)})", _when(t))  # fmt: skip


@rule("R013", "ETA within a window around the issue time", "warning",
      days_before="number", days_after="number")  # fmt: skip
def eta_window(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    ref = ctx.doc.header.issue_time
    what = "the issue time"
    if ref is None:
        ref, what = ctx.now, "the time of checking"
    earliest = ref - timedelta(days=float(p["days_before"]))
    latest = ref + timedelta(days=float(p["days_after"]))
    for path, means in ctx.each(BorderTransportMeans):
        eta = means.eta
        if eta is None:
            continue
        if eta < earliest:
            text = f"ETA {_when(eta)} is more than {p['days_before']} day(s) before {what}"
        elif eta > latest:
            text = f"ETA {_when(eta)} is more than {p['days_after']} day(s) after {what}"
        else:
            continue
        yield Hit(_join(path, "eta"), f"{text} ({_when(ref)})", _when(eta))


@rule("R014", "declaration due date = shipment date + N days (Hong Kong: 14)", "error",
      days="int")  # fmt: skip
def due_date(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    d = ctx.doc.declaration
    if d is None or d.shipment_date is None or d.due_date is None:
        return
    expected = d.shipment_date + timedelta(days=p["days"])
    if d.due_date != expected:
        yield Hit("declaration.due_date",
                  f"due date {d.due_date.isoformat()} is not {p['days']} days after the "
                  f"shipment date {d.shipment_date.isoformat()} ({expected.isoformat()})",
                  d.due_date.isoformat())  # fmt: skip


@rule("R015", "declaration lodged by its due date", "warning", days="int")
def lodged_in_time(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    d = ctx.doc.declaration
    issued = ctx.doc.header.issue_time
    if d is None or issued is None:
        return
    due: date | None = d.due_date
    if due is None and d.shipment_date is not None:
        due = d.shipment_date + timedelta(days=p["days"])
    if due is not None and issued.date() > due:
        yield Hit("header.issue_time",
                  f"declaration issued {issued.date().isoformat()}, after its due date "
                  f"{due.isoformat()}", _when(issued))  # fmt: skip


# -- references between parts of the document -----------------------------------------------


@rule("R016", "equipment referenced by items and consignments is declared", "warning")
def equipment_references(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    declared = {e.identifier for e in ctx.doc.transport_equipment}
    if not declared:
        return  # a document without equipment details (e.g. a declaration naming containers)
    holders: list[tuple[str, GoodsItem | Consignment]] = [*ctx.each(Consignment),
                                                           *ctx.each(GoodsItem)]  # fmt: skip
    for path, obj in holders:
        if obj.equipment_refs:
            for i, ref in enumerate(obj.equipment_refs):
                if ref not in declared:
                    yield Hit(_join(path, f"equipment_refs[{i}]"),
                              f"equipment {ref!r} is not among the document's transport "
                              "equipment", ref)  # fmt: skip


@rule("R017", "a goods item's net mass does not exceed its gross mass", "error")
def net_not_above_gross(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    for path, item in ctx.each(GoodsItem):
        if item.net_mass is None or item.gross_mass is None:
            continue
        net, gross = _kilograms(item.net_mass), _kilograms(item.gross_mass)
        if net is not None and gross is not None and net > gross:
            yield Hit(_join(path, "net_mass"),
                      f"net mass {_number(net)} kg exceeds the gross mass {_number(gross)} kg",
                      _number(item.net_mass.value))  # fmt: skip


# -- code formats -------------------------------------------------------------------------------

_UN_NUMBER = re.compile(r"\d{4}")
_REC20 = re.compile(r"[0-9A-Z]{2,3}")
_REC21 = re.compile(r"[0-9A-Z]{2}")
#: canonical fields that hold a mass, and those that hold a volume
_MASS_FIELDS = frozenset(("gross_mass", "net_mass", "total_gross_mass"))
_VOLUME_FIELDS = frozenset(("volume", "total_volume"))


@rule("R018", "dangerous goods UN number: four digits, 0004 to 3599", "error")
def un_numbers(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    # UN Model Regulations numbers run from 0004 to 3500-odd; "UN" prefixes are a mapping's
    # job to strip, so here they are an error like any other non-number
    for path, dg in ctx.each(DangerousGoods):
        value = dg.un_number
        if not _UN_NUMBER.fullmatch(value) or not 4 <= int(value) <= 3599:
            yield Hit(_join(path, "un_number"), f"UN number {value!r} is not four digits "
                                                "between 0004 and 3599", value)  # fmt: skip


@rule("R019", "masses in mass units, volumes in volume units (UN/ECE Rec 20)", "error",
      mass_units="list[str]", volume_units="list[str]")  # fmt: skip
def measure_units(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    mass, volume = set(p["mass_units"]), set(p["volume_units"])
    for path, m in ctx.each(Measure):
        field = path.rsplit(".", 1)[-1]
        unit = m.unit.upper()
        if not _REC20.fullmatch(unit):
            yield Hit(_join(path, "unit"), f"unit {m.unit!r} is not a UN/ECE Rec 20 code "
                                           "(2 or 3 letters or digits)", m.unit)  # fmt: skip
        elif field in _MASS_FIELDS and unit not in mass:
            yield Hit(_join(path, "unit"), f"{field.replace('_', ' ')} in {m.unit}, not a mass "
                                           f"unit ({', '.join(sorted(mass))})", m.unit)  # fmt: skip
        elif field in _VOLUME_FIELDS and unit not in volume:
            yield Hit(_join(path, "unit"), f"{field.replace('_', ' ')} in {m.unit}, not a "
                                           f"volume unit ({', '.join(sorted(volume))})",
                      m.unit)  # fmt: skip


@rule("R020", "package type: a UN/ECE Rec 21 code (two letters or digits)", "warning")
def package_types(ctx: Context, p: dict[str, Any]) -> Iterator[Hit]:
    # the Rec 21 list itself is not shipped with the directories; the format catches the
    # usual mistakes (CTN for CT, PCS, free text)
    for path, pack in ctx.each(Packaging):
        code = pack.type_code
        if code is not None and not _REC21.fullmatch(code):
            yield Hit(_join(path, "type_code"), f"package type {code!r} is not a UN/ECE Rec 21 "
                                                "code (two letters or digits, e.g. CT, PK, 1A)",
                      code)  # fmt: skip


__all__ = ["KILOGRAMS", "RULES", "SEVERITIES", "Context", "Hit", "Rule", "walk"]
