"""Typesetting the report in Finnish: where words may break, no-break spaces, punctuation, spelling.

The PDF breaks long words only where its text carries a soft hyphen (U+00AD):
WeasyPrint's own hyphenation (Pyphen) has no Finnish dictionary. Voikko
(Debian `libvoikko1` + `voikko-fi`, PyPI `libvoikko`) knows Finnish
compounds and syllables (`ter-veys-ase-mat`, `po-li-kli-nik-ka`); where it is
not installed, a syllable rule with a list of known compound seams stands in.

`typeset_html` works on the rendered HTML's text only (never on tags,
attributes, entities or the style sheet): a no-break space between a number
and its unit, no space before a full stop or comma, and, for the PDF, the soft
hyphens.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from functools import cache, lru_cache

try:
    from libvoikko import Voikko, VoikkoException
except ImportError:  # without the binding the hand rule hyphenates
    Voikko, VoikkoException = None, OSError

SOFT_HYPHEN = "\u00ad"
ZERO_WIDTH_SPACE = "\u200b"
NBSP = "\u00a0"

# Words shorter than this are never broken: a ragged line is better than a broken short word.
MIN_LETTERS = 8

# --- Voikko ----------------------------------------------------------------------------

_LOCK = threading.Lock()  # one Voikko handle must not be used from two threads at once


@cache
def _voikko() -> Voikko | None:
    if Voikko is None:
        return None
    try:
        v = Voikko("fi")
    except (OSError, VoikkoException):  # the library or its Finnish dictionary is not installed
        return None
    # No one-vowel syllable at a break (ter-veys-ase-mat, not ter-veys-a-se-mat).
    v.setNoUglyHyphenation(True)
    return v


def voikko_available() -> bool:
    return _voikko() is not None


def voikko_points(word: str) -> list[int] | None:
    """Where Voikko lets a word break (indices of the letters a break comes before); None without Voikko."""
    v = _voikko()
    if v is None:
        return None
    with _LOCK:
        pattern = v.getHyphenationPattern(word)
    # '-' is a break before the letter; '=' replaces a hyphen that is already there (not ours to add).
    return [i for i, mark in enumerate(pattern) if mark == "-" and word[i - 1] not in "-'’"]


def misspelled(words: Iterable[str]) -> dict[str, list[str]]:
    """Words Voikko does not know, with its suggestions; empty without Voikko (nothing can be said)."""
    v = _voikko()
    if v is None:
        return {}
    out = {}
    with _LOCK:
        for w in dict.fromkeys(words):
            if not v.spell(w):
                out[w] = v.suggest(w)
    return out


# --- the hand rule (where Voikko is absent) ---------------------------------------------

VOWELS = "aeiouyäöå"
# A consonant followed by a vowel starts a Finnish syllable (ta-lo, kah-vi, vars-ta).
_SYLLABLE_START = re.compile(rf"(?=[^{VOWELS}\W\d_][{VOWELS}])", re.IGNORECASE)
# Compound seams the syllable rule cannot see: where the second part starts with a
# vowel or a consonant cluster, the rule would break talou-sarvio or kaupunkist-rategia.
# The parts are hyphenated on their own, and the seam is a break (talous-ar-vio).
COMPOUND_SEAMS = (
    "talous|arvio",
    "muutos|ohjelma",
    "suosittelu|indeksi",
    "riski|alue",
    "uudistus|alue",
    "käyttöön|otto",
    "etä|asioi",
    "järjestö|avustu",
    "kaupunki|strategia",
    "palvelu|strategia",
    "kaupunki|uudist",
    "kaupunki|ympäristö",
    "terveys|asema",
)
_SEAMS = [(left + right, len(left)) for left, right in (seam.split("|") for seam in COMPOUND_SEAMS)]


def _syllable_cuts(part: str) -> list[int]:
    """Where a part of a word may break: before a consonant that starts a syllable, after the
    part's first vowel (its opening consonants stay together: stra-te-gi-a)."""
    lower = part.lower()
    first_vowel = next((i for i, c in enumerate(lower) if c in VOWELS), len(part))
    return [m.start() for m in _SYLLABLE_START.finditer(part) if m.start() > first_vowel]


def rule_points(word: str) -> list[int]:
    """Where the hand rule lets a word break: syllables plus the known seams, three letters from either end."""
    lower = word.lower()
    seams = sorted({at + n for stem, n in _SEAMS for at in (m.start() for m in re.finditer(re.escape(stem), lower))})
    bounds = [0, *seams, len(word)]
    cuts = set(seams)
    for start, end in zip(bounds, bounds[1:]):
        # No one-letter syllable beside a seam either (etä-asioin-nin, not etä-a-sioin-nin).
        cuts.update(start + c for c in _syllable_cuts(word[start:end]) if 2 <= c <= end - start - 2)
    return sorted(c for c in cuts if 3 <= c <= len(word) - 3)


# --- hyphenation -----------------------------------------------------------------------

# A word: letters, perhaps joined by a hyphen or an apostrophe (HUS-yhtymä, linja-auto).
_WORD = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*")

Points = Callable[[str], "list[int] | None"]


@lru_cache(maxsize=65536)
def _hyphenated_word(word: str, engine: str) -> str:
    if sum(c.isalpha() for c in word) < MIN_LETTERS or any(c.isupper() for c in word[1:]):
        return word  # short, or an acronym such as HYVÄ or HUS-yhtymä
    points = voikko_points(word) if engine == "voikko" else None
    if points is None:
        points = [p for part_start, part in _parts(word) for p in (part_start + q for q in rule_points(part))]
    # At least two letters on either side of a break.
    cuts = [p for p in points if 2 <= p <= len(word) - 2]
    return SOFT_HYPHEN.join(word[i:j] for i, j in zip([0, *cuts], [*cuts, len(word)]))


def _parts(word: str) -> list[tuple[int, str]]:
    """The parts of a hyphenated word with their offsets (the rule hyphenates each on its own)."""
    return [(m.start(), m.group(0)) for m in re.finditer(r"[^-'’]+", word)]


def hyphenated(text: str | None, engine: str | None = None) -> str:
    """Soft hyphens at the Finnish break points of the text's words of at least `MIN_LETTERS` letters.

    `engine` is `voikko` (the default where it is installed) or `rule`; removing the soft hyphens
    gives the text back unchanged.
    """
    if not text:
        return text or ""
    engine = engine or ("voikko" if voikko_available() else "rule")
    return _WORD.sub(lambda m: _hyphenated_word(m.group(0), engine), text)


# --- the rendered HTML's text ----------------------------------------------------------

# Tags, entities and the style sheet are not text: they are kept as they are.
_NOT_TEXT = re.compile(r"(<style\b.*?</style>|<script\b.*?</script>|<!--.*?-->|<[^>]*>|&#?\w+;)", re.S | re.I)
# Units and abbreviations a number is never parted from (beyond the indicators' own units).
UNIT_WORDS = (
    "%",
    "€",
    "%-yks.",
    "milj.",
    "mrd.",
    "euroa",
    "eurolla",
    "euron",
    "tuhatta",
    "vrk",
    "pv",
    "kpl",
    "t",
    "h",
    "htv",
    "prosenttia",
    "prosenttiyksikköä",
)
# A space before a full stop, comma, semicolon or colon is never right.
_SPACE_BEFORE_STOP = re.compile(r"[ \t]+(?=[.,;:](?:\s|$))")
# Digits grouped by thousands with a plain space, as a person types them: 450 000.
_THOUSANDS = re.compile(r"(?<![\d,])(\d{1,3})(?:[ ](\d{3}))+(?!\d)")


def _unit_pattern(units: Iterable[str]) -> re.Pattern:
    words = sorted({u for u in (*UNIT_WORDS, *units) if u}, key=len, reverse=True)
    alternatives = "|".join(re.escape(u) for u in words)
    return re.compile(rf"(?<=\d)[ ](?=(?:{alternatives})(?![^\W\d_]))")


def typeset_text(text: str, units: re.Pattern, hyphenate: bool) -> str:
    """One run of text: no-break spaces within numbers and before units, no space before a stop, soft hyphens."""
    text = _THOUSANDS.sub(lambda m: m.group(0).replace(" ", NBSP), text)
    text = units.sub(NBSP, text)
    text = _SPACE_BEFORE_STOP.sub("", text)
    return hyphenated(text) if hyphenate else text


# Headings, the title and the cover are never hyphenated: the PDF's bookmarks and metadata are made of
# them, and the cover's spaced capitals would read as broken words. Nor are file names (`<span class="file">`).
_UNBROKEN = re.compile(
    r"(<title\b.*?</title>|<h([1-6])\b.*?</h\2>|<section class=\"cover\".*?</section>|<span class=\"file\">.*?</span>)",
    re.S | re.I,
)


def _typeset_part(html: str, units: re.Pattern, hyphenate: bool) -> str:
    parts = _NOT_TEXT.split(html)
    # split() with one group puts the separators at the odd indices.
    return "".join(p if i % 2 else typeset_text(p, units, hyphenate) for i, p in enumerate(parts))


def typeset_html(html: str, units: Iterable[str] = (), hyphenate: bool = False) -> str:
    """The HTML with its text typeset (`typeset_text`); tags, attributes, entities and styles untouched."""
    pattern = _unit_pattern(units)
    out, pos = [], 0
    for m in _UNBROKEN.finditer(html):
        out.append(_typeset_part(html[pos : m.start()], pattern, hyphenate))
        out.append(_typeset_part(m.group(0), pattern, hyphenate=False))
        pos = m.end()
    out.append(_typeset_part(html[pos:], pattern, hyphenate))
    return "".join(out)


def breakable(text: str | None) -> str:
    """A file name, path or list of them that may wrap after `_`, `/`, `.`, `,` or `-` (a zero-width
    space): a long name in a narrow appendix column wraps rather than runs over its neighbour."""
    if not text:
        return text or ""
    return re.sub(r"(?<=[_/.,;=-])(?=[^\s\d])|(?<=[_/])(?=\d)", ZERO_WIDTH_SPACE, str(text))
