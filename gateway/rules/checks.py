"""Value checks the business rules use: check digits and code formats, one function per kind.

Each function returns ``None`` when the value is fine, otherwise a short reason in plain text
(the rule adds what the value is and where it was found). Standards:

- ISO 6346 container identification: owner code (3 letters), equipment category (U freight
  container, J detachable equipment, Z trailer/chassis; R is accepted as python-stdnum does),
  6-digit serial, check digit. The check digit itself is computed by ``stdnum.iso6346``: letters
  count 10..38 skipping multiples of 11, each of the 10 characters is weighted 2**position, the
  sum modulo 11 (then modulo 10, so a remainder of 10 gives 0) is the check digit.
- IMO ship identification number: 7 digits; ``stdnum.imo``: the first six digits weighted
  7, 6, 5, 4, 3, 2; the last digit of the sum is the check digit. An ``IMO`` prefix is accepted.
- IATA air waybill number: 3-digit airline prefix and 8-digit serial whose last digit is the
  first seven digits modulo 7 (IATA Resolution 600a); python-stdnum has no module for it, so
  :func:`awb_problem` is written here. A hyphen or spaces between prefix and serial are accepted.
- UN/LOCODE: ISO 3166-1 alpha-2 country code (pycountry; plus the extra codes a rule set allows,
  such as ``XZ`` for installations in international waters) and 3 characters from ``A-Z`` and
  ``2-9`` (UN/ECE Recommendation 16: digits 0 and 1 are not used, to avoid confusion with O and I).
- Harmonized System code: digits only, of the lengths a rule set allows (6 to 8, or 10).
- ISO 3166-1 alpha-2 countries and ISO 4217 currencies: the current lists shipped with pycountry.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from functools import lru_cache

import pycountry
from stdnum import imo, iso6346
from stdnum.exceptions import InvalidChecksum, ValidationError

_CONTAINER = re.compile(r"[A-Z]{3}[UJZR][0-9]{7}")
_LOCODE_PLACE = re.compile(r"[A-Z2-9]{3}")
_AWB_SEPARATORS = re.compile(r"[\s-]")


def container_problem(identifier: str) -> str | None:
    """ISO 6346 container id (11 characters, no spaces)."""
    value = identifier.strip().upper()
    if len(value) != 11:
        return f"{len(value)} characters, not 11 (owner code, category, serial, check digit)"
    if not _CONTAINER.fullmatch(value):
        return "not 3 letters, a category letter (U, J, Z), 6 digits and a check digit"
    try:
        iso6346.validate(value)
    except InvalidChecksum:
        expected = iso6346.calc_check_digit(value[:10])
        return f"check digit {value[-1]} is wrong (ISO 6346 gives {expected})"
    except ValidationError as exc:  # pragma: no cover - the pattern above is stricter
        return str(exc) or "not an ISO 6346 container id"
    return None


def imo_problem(identifier: str) -> str | None:
    """IMO ship identification number, ``IMO`` prefix allowed."""
    value = imo.compact(identifier)
    if not value.isascii() or not value.isdigit():
        return "not digits"
    if len(value) != 7:
        return f"{len(value)} digits, not 7"
    if not imo.is_valid(value):
        return f"check digit {value[-1]} is wrong (IMO gives {imo.calc_check_digit(value[:6])})"
    return None


def awb_check_digit(serial7: str) -> str:
    """IATA air waybill check digit of the first seven serial digits: their value modulo 7."""
    return str(int(serial7) % 7)


def awb_problem(identifier: str) -> str | None:
    """IATA air waybill number: 3-digit airline prefix + 8-digit serial (check digit last)."""
    value = _AWB_SEPARATORS.sub("", identifier)
    if not value.isascii() or not value.isdigit():
        return "not digits (3-digit airline prefix and 8-digit serial)"
    if len(value) != 11:
        return f"{len(value)} digits, not 11 (3-digit airline prefix and 8-digit serial)"
    expected = awb_check_digit(value[3:10])
    if value[10] != expected:
        return f"check digit {value[10]} is wrong (serial {value[3:10]} modulo 7 is {expected})"
    return None


@lru_cache(maxsize=1024)
def is_country(code: str) -> bool:
    """An ISO 3166-1 alpha-2 code (upper case, as the standard writes it)."""
    return len(code) == 2 and code.isupper() and pycountry.countries.get(alpha_2=code) is not None


@lru_cache(maxsize=512)
def is_currency(code: str) -> bool:
    """An ISO 4217 alphabetic currency code (upper case)."""
    return len(code) == 3 and code.isupper() and pycountry.currencies.get(alpha_3=code) is not None


def country_problem(code: str, extra: Collection[str] = ()) -> str | None:
    if is_country(code) or code in extra:
        return None
    return "not an ISO 3166-1 alpha-2 country code"


def currency_problem(code: str) -> str | None:
    return None if is_currency(code) else "not an ISO 4217 currency code"


def locode_problem(code: str, extra_countries: Collection[str] = ()) -> str | None:
    """UN/LOCODE as one 5-character code (no space between country and place)."""
    if len(code) != 5:
        return f"{len(code)} characters, not 5 (country code and 3-character place code)"
    country, place = code[:2], code[2:]
    if not (is_country(country) or country in extra_countries):
        return f"{country!r} is not an ISO 3166-1 alpha-2 country code"
    if not _LOCODE_PLACE.fullmatch(place):
        return f"place code {place!r} is not 3 characters from A-Z and 2-9"
    return None


def hs_code_problem(code: str, lengths: Collection[int]) -> str | None:
    """Harmonized System (or national tariff) code: digits only, of an allowed length."""
    allowed = ", ".join(str(n) for n in sorted(lengths))
    if not code.isascii() or not code.isdigit():
        return f"not digits only (expected {allowed} digits)"
    if len(code) not in lengths:
        return f"{len(code)} digits (expected {allowed})"
    return None
