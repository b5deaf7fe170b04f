"""Telephone numbers in one canonical form, so a typed number matches a presented one.

The canonical form is the national dialling form a Chinese agent reads and dials back,
digits only: a mobile as eleven digits (``13800138000``), a landline with its trunk
prefix and area code (``02988881234``), a 400/800 number as ten digits, a foreign number
with the international prefix ``00``. It is what pbxd sees after the span's number plan
(drivers/e1_card/numbering.py) and what the registry import accepts, so the usual case
needs no work; the rules below catch what people type and what some carriers send:

- full-width characters typed with a Chinese input method become ASCII (``１３８…``);
- separators (space, ``-``, ``(``, ``)``, ``.``) go;
- a country code ``+86`` / ``0086`` / a bare ``86`` before ≥ 9 more digits goes, and a
  landline written internationally gets its trunk prefix 0 back (``+86 29 8888 1234`` →
  ``02988881234``; mobiles and 400/800 numbers have none);
- an out-of-area mobile with a trunk prefix (``013800138000``, sent by some exchanges)
  loses it.
"""

from __future__ import annotations

import re
import unicodedata

SEPARATORS = str.maketrans("", "", " -().\t")
MOBILE = re.compile(r"1[3-9]\d{9}")
FREEPHONE = re.compile(r"[48]00\d{7}")
# Area code (2–3 digits, without the 0) + subscriber number (7–8 digits).
LANDLINE_NO_TRUNK = re.compile(r"[1-9]\d{8,10}")


def normalise(number: str | None) -> str | None:
    """NUMBER in the canonical form, or None when it is not a telephone number (empty,
    letters, an anonymous caller's placeholder)."""
    if not isinstance(number, str) or not number:
        return None
    text = unicodedata.normalize("NFKC", number).strip().translate(SEPARATORS)
    international = text.startswith("+")
    if international:
        text = text[1:]
    if not text.isdigit() or not text.isascii():
        return None
    if international:
        if not text.startswith("86"):
            return "00" + text
        return _national(text[2:])
    if text.startswith("0086"):
        return _national(text[4:])
    if text.startswith("00"):
        return text  # another country, already in the dialling form
    if text.startswith("86") and len(text) >= 11:
        # No national number starts with 8 except a local one (7–8 digits), so this is 86 + …
        return _national(text[2:])
    if len(text) == 12 and text[0] == "0" and MOBILE.fullmatch(text[1:]):
        return text[1:]
    return text


def _national(significant: str) -> str | None:
    """The national form of a number given after country code 86."""
    if not significant:
        return None
    if MOBILE.fullmatch(significant) or FREEPHONE.fullmatch(significant) or significant[0] == "0":
        return significant  # "+86 029…" is a common way of writing it, too
    if LANDLINE_NO_TRUNK.fullmatch(significant):
        return "0" + significant
    return significant


def number_forms(canonical: str) -> tuple[str, ...]:
    """The ways CANONICAL may have been stored or presented (itself first): with a country
    code, with or without '+', and a mobile with a trunk prefix. Lookups match any of them,
    so rows written before normalisation existed (or by a newer hub) are still found."""
    if canonical.startswith("00"):
        return (canonical, "+" + canonical[2:])
    significant = canonical[1:] if canonical.startswith("0") else canonical
    forms = [canonical, "+86" + significant, "0086" + significant]
    if len(significant) >= 9:  # a bare 86 before fewer digits reads as a local number
        forms.insert(1, "86" + significant)
    if MOBILE.fullmatch(canonical):
        forms.append("0" + canonical)
    return tuple(forms)
