"""The command line's own words in Finnish: argparse's messages and pydantic's validation errors.

argparse looks up every message it prints through gettext (`argparse._`,
`argparse.ngettext`), as a translation catalogue would; `speak_finnish()` puts a
Finnish catalogue there. Pydantic's errors are told by their type, with
katsaus' own Finnish messages passed through as they are.
"""

from __future__ import annotations

import argparse

from reports import fmt

# argparse's messages (Python 3.11–3.13) and their Finnish. A message not listed stays as argparse wrote it.
ARGPARSE_FI = {
    "usage: ": "käyttö: ",
    "positional arguments": "argumentit",
    "options": "valitsimet",
    "subcommands": "komennot",
    "%(heading)s:": "%(heading)s:",
    " (default: %(default)s)": " (oletus: %(default)s)",
    "show this help message and exit": "näytä tämä ohje ja lopeta",
    "argument %(argument_name)s: %(message)s": "%(argument_name)s: %(message)s",
    "unrecognized arguments: %s": "tuntemattomia valitsimia tai arvoja: %s",
    "not allowed with argument %s": "ei käy yhdessä valitsimen %s kanssa",
    "ignored explicit argument %r": "valitsin ei ota arvoa (%r)",
    "the following arguments are required: %s": "nämä puuttuvat: %s",
    "one of the arguments %s is required": "jokin näistä tarvitaan: %s",
    "expected one argument": "valitsin tarvitsee arvon",
    "expected at most one argument": "valitsimelle käy enintään yksi arvo",
    "expected at least one argument": "valitsin tarvitsee ainakin yhden arvon",
    "ambiguous option: %(option)s could match %(matches)s": "valitsin %(option)s on epäselvä: se voi olla %(matches)s",
    "unexpected option string: %s": "odottamaton valitsin: %s",
    "invalid %(type)s value: %(value)r": "virheellinen arvo %(value)r",
    "invalid choice: %(value)r (choose from %(choices)s)": "tuntematon arvo %(value)r (sallitut: %(choices)s)",
    "unknown parser %(parser_name)r (choices: %(choices)s)": (
        "tuntematon komento %(parser_name)r (komennot: %(choices)s)"
    ),
    "can't open '%(filename)s': %(error)s": "tiedostoa %(filename)s ei voi avata: %(error)s",
    "%(prog)s: error: %(message)s\n": "%(prog)s: virhe: %(message)s\n",
    "%(prog)s: warning: %(message)s\n": "%(prog)s: varoitus: %(message)s\n",
}
ARGPARSE_PLURAL_FI = {("expected %s argument", "expected %s arguments"): ("odotettiin %s arvo", "odotettiin %s arvoa")}


def _gettext(message: str) -> str:
    return ARGPARSE_FI.get(message, message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    one, many = ARGPARSE_PLURAL_FI.get((singular, plural), (singular, plural))
    return one if n == 1 else many


def speak_finnish() -> None:
    """argparse's messages in Finnish, for every parser of this process (the command line's own)."""
    argparse._ = _gettext
    argparse.ngettext = _ngettext


# Pydantic's error types and what to say of them in Finnish (`{input}` is the value given).
PYDANTIC_FI = {
    "missing": "puuttuu",
    "extra_forbidden": "tuntematon asetus",
    "literal_error": "tuntematon arvo {input!r}",
    "int_parsing": "{input!r} ei ole kokonaisluku",
    "int_type": "pitää olla kokonaisluku",
    "float_parsing": "{input!r} ei ole luku",
    "float_type": "pitää olla luku",
    "bool_parsing": "{input!r} ei ole kyllä tai ei",
    "string_type": "pitää olla tekstiä",
    "string_pattern_mismatch": "{input!r} ei ole muotoa VVVV-KK",
    "date_parsing": "{input!r} ei ole päivämäärä (24.9.2024 tai 2024-09-24)",
    "date_from_datetime_parsing": "{input!r} ei ole päivämäärä (24.9.2024 tai 2024-09-24)",
    "date_type": "pitää olla päivämäärä (24.9.2024 tai 2024-09-24)",
    "greater_than": "pitää olla suurempi kuin {gt}",
    "greater_than_equal": "pitää olla vähintään {ge}",
    "less_than_equal": "saa olla enintään {le}",
}


def pydantic_error_fi(error: dict) -> str:
    """One error of a pydantic ValidationError in Finnish: `where: what`. A check of katsaus' own (value_error)
    already speaks Finnish; its message is passed as it is."""
    where = ".".join(str(part) for part in error.get("loc", ())) or "parametrit"
    kind = error.get("type", "")
    if kind in ("value_error", "assertion_error"):
        what = str(error.get("ctx", {}).get("error", error.get("msg", "")))
    elif kind in PYDANTIC_FI:
        limits = {k: fmt.short(v) if isinstance(v, int | float) else v for k, v in error.get("ctx", {}).items()}
        what = PYDANTIC_FI[kind].format(input=error.get("input"), **limits)
    else:
        what = f"virheellinen arvo {error.get('input')!r}"
    return f"{where}: {what}"
