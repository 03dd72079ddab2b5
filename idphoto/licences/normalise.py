"""Normalises free-text licence strings to SPDX ids or named licence classes.

Hand-written on purpose: no library maps the licence text found at photo sources ("Attribution-
NonCommercial License", "CC BY-SA 2.0", "creativecommons.org/licenses/by/2.0/", "PD-USGov") to
SPDX. `license-expression` does the part a library can do: it parses, validates and canonicalises
SPDX ids and expressions. This module maps everything else onto those ids, or onto a named class
for licences SPDX has no id for (public domain, US government work, all rights reserved...).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import unicodedata

from license_expression import Licensing, get_spdx_licensing

PUBLIC_DOMAIN = "public-domain"
US_GOVERNMENT_WORK = "us-government-work"
NO_KNOWN_RESTRICTIONS = "no-known-restrictions"
ALL_RIGHTS_RESERVED = "all-rights-reserved"
UNKNOWN = "unknown"
EMPTY = "empty"
NAMED_CLASSES = (
    PUBLIC_DOMAIN,
    US_GOVERNMENT_WORK,
    NO_KNOWN_RESTRICTIONS,
    ALL_RIGHTS_RESERVED,
    UNKNOWN,
    EMPTY,
)

_SPDX = get_spdx_licensing()
# Parses expressions over any symbols, so that SPDX ids and class names can be combined.
_ANY_SYMBOLS = Licensing()
# Besides ExpressionError, malformed input escapes the parser as errors of its internals
# (IndexError on "()", AssertionError on "( or a"): to us, any of them means "not an expression".
_PARSE_ERRORS = Exception


@dataclasses.dataclass(frozen=True)
class Normalised:
    """A licence string in the form the policy judges.

    Attributes:
        spdx: the canonical SPDX id or expression ("CC-BY-2.0", "CC-BY-2.0 OR CC0-1.0"), or None
            when the licence, or a part of it, is a named class without an SPDX id.
        name: what the policy's rules match: `spdx` when set, else a named class, or an expression
            over SPDX ids and named classes ("CC-BY-2.0 OR public-domain").
    """

    spdx: str | None
    name: str


def normalise(text: str | None) -> Normalised:
    """Maps a licence string as found at a photo's source to an SPDX id or a named class.

    Case, whitespace, unicode dashes, underscores and surrounding quotes do not change the result;
    nor, for a URL, do its scheme (`http`, `https` or none), `www.`, a trailing slash, a query,
    a fragment or a Creative Commons deed/legalcode suffix (`/deed.en`, `/legalcode.fr`).
    Never raises on a string: text it cannot read becomes the class `unknown`, blank text (or None)
    the class `empty`. So does text that states an element its licence lacks ("CC BY 4.0
    (non-commercial use only)"), text over 500 characters and parentheses nested over 3 deep:
    what is unclear is rejected, never read as a looser licence.

    Args:
        text: an SPDX id or expression, a Creative Commons name, URL or short code, a Flickr
            licence name, a public-domain phrase, a copyright notice, a GFDL name...

    Returns:
        The normalised licence.
    """
    if text is None:
        return Normalised(None, EMPTY)
    return _normalise(text)


@functools.lru_cache(maxsize=4096)  # manifests repeat a handful of licence strings many times
def _normalise(text: str) -> Normalised:
    cleaned = _clean(text)
    if not cleaned:
        return Normalised(None, EMPTY)
    if len(cleaned) > _MAX_LENGTH:
        return Normalised(None, UNKNOWN)
    spdx = _spdx_expression(cleaned)
    if spdx is not None:
        return Normalised(spdx, spdx)
    key = cleaned.lower()
    name = _recognise(key)
    if name is not None:
        return Normalised(None if name in NAMED_CLASSES else name, name)
    return _free_text_expression(key) or Normalised(None, UNKNOWN)


_MAX_LENGTH = 500  # longer text is a document, not a licence name; it also bounds the work done
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))  # BOMs from CSV exports
_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d"), "-")
_QUOTES = "\"'`\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u00ab\u00bb\u2039\u203a"


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE).translate(_DASHES)
    text = " ".join(text.replace("_", "-").split())
    return text.strip(_QUOTES + " ")


@functools.lru_cache(maxsize=1024)
def _spdx_expression(text: str) -> str | None:
    """The canonical form of a valid SPDX id or expression (any case), else None."""
    try:
        parsed = _SPDX.parse(text, validate=True, strict=True)
    except _PARSE_ERRORS:
        return None
    return None if parsed is None else parsed.render()


def _spdx_id(text: str) -> str | None:
    found = _spdx_expression(text)
    return found if found and " " not in found else None


def _recognise(key: str) -> str | None:
    """The SPDX id or named class of one lower-cased licence (not an expression), else None.

    None too when the text states an element the licence lacks: in "CC BY 4.0 (non-commercial
    use only)" or "© Jane, CC BY 4.0, no derivatives" the licence and the text disagree.
    """
    for recogniser in (
        _spdx_id,
        _url,
        _copyright_notice,
        _public_domain,
        _gfdl,
        _creative_commons,
        _recognise_parenthesised,
    ):
        name = recogniser(key)
        if name is not None:
            return None if _states_more_than(key, name) else name
    return None


# Words by which licence text states a Creative Commons element; `by` only as "attribution",
# since "by" is also plain English ("Public domain (photo by NASA)").
_STATED_ELEMENTS = (
    ("by", re.compile(r"attribution")),
    ("nc", re.compile(r"\bnc\b|commercial")),
    ("nd", re.compile(r"\bnd\b|deriv")),
    ("sa", re.compile(r"\bsa\b|share[ -]?alike")),
)


def _states_more_than(key: str, name: str) -> bool:
    """Whether `key` states an element (attribution, NC, ND, SA) that the licence `name` lacks."""
    if name in (ALL_RIGHTS_RESERVED, UNKNOWN, EMPTY):
        return False  # nothing is stricter
    lowered = name.lower()
    if lowered.startswith("gfdl"):
        carried = {"by", "sa"}  # the GFDL's own terms: credit the authors, share alike
    elif lowered.startswith("cc-"):
        carried = set(lowered.split("-"))
    else:
        carried = set()
    return any(e not in carried and p.search(key) for e, p in _STATED_ELEMENTS)


_PARENTHESIS = re.compile(r"\(([^()]*)\)")
_MAX_NESTING = 3  # deeper parentheses are no licence text; the cap bounds the recursion below


def _recognise_parenthesised(key: str) -> str | None:
    # A parenthesis restates the licence ("Attribution 4.0 International (CC BY 4.0)"), makes it
    # precise ("Public Domain Dedication (CC0)") or names a source ("Public domain (NASA)"):
    # judge the text outside and inside, preferring an SPDX id over a named class.
    inner = _PARENTHESIS.findall(key)
    if not inner or _nesting(key) > _MAX_NESTING:
        return None
    parts = [" ".join(part.split()) for part in (_PARENTHESIS.sub(" ", key), *inner)]
    names = [name for name in map(_recognise, filter(None, parts)) if name is not None]
    with_spdx = [name for name in names if name not in NAMED_CLASSES]
    return (with_spdx or names or [None])[0]


def _nesting(text: str) -> int:
    depth = deepest = 0
    for char in text:
        if char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth -= 1
    return deepest


def _words(key: str) -> str:
    """`key` with punctuation between words dropped and "Creative Commons" shortened to "cc"."""
    words = " ".join(re.sub(r"[,;:]", " ", key).split()).strip(" .")
    return re.sub(r"creative ?commons", "cc", words)


# --- URLs ---------------------------------------------------------------------------------------

_URL = re.compile(
    r"(?:[a-z][a-z0-9+.-]*:/*)?(?:www\.)?([a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,})(?::\d+)?"
    r"(/[^?#\s]*)?(?:[?#]\S*)?"
)
# Language and format suffixes of a Creative Commons URL: the deed's language is not a port.
_CC_URL_SUFFIX = re.compile(r"deed(?:\..*)?|legalcode(?:\..*)?|rdf|index\.html?")


def _url(key: str) -> str | None:
    match = _URL.fullmatch(key)
    if not match:
        return None
    host, path = match[1], match[2] or ""
    segments = [s for s in path.split("/") if s]
    if host == "creativecommons.org":
        return _creative_commons_url([s for s in segments if not _CC_URL_SUFFIX.fullmatch(s)])
    if host == "usa.gov" and segments[:1] in (["copyright.shtml"], ["government-works"]):
        return US_GOVERNMENT_WORK  # the link Flickr gives for "United States Government Work"
    if host == "flickr.com" and segments[:2] == ["commons", "usage"]:
        return NO_KNOWN_RESTRICTIONS  # the link Flickr gives for "No known copyright restrictions"
    if host == "gnu.org" and len(segments) == 2 and segments[0] in ("licenses", "copyleft"):
        version = re.fullmatch(r"fdl(?:-(1\.[123]))?\.(?:html|txt|en\.html)", segments[1])
        return f"GFDL-{version[1] or '1.3'}-only" if version else None
    if host == "spdx.org" and len(segments) == 2 and segments[0] == "licenses":
        return _spdx_id(re.sub(r"\.(?:html|json)$", "", segments[1]))
    return None


def _creative_commons_url(segments: list[str]) -> str | None:
    match segments:
        case ["licenses", "publicdomain", *_]:
            return "CC-PDDC"  # the retired "Public Domain Dedication and Certification"
        case ["licenses", code, *rest] if len(rest) <= 2:
            return _creative_commons_tokens([*code.split("-"), *rest])
        case ["publicdomain", "zero", "1.0", *_]:
            return "CC0-1.0"
        case ["publicdomain", "mark", "1.0", *_]:
            return "CC-PDM-1.0"
    return None


# --- copyright notices, public-domain phrases, GFDL ---------------------------------------------

_COPYRIGHT = re.compile(r"©|\(c\)|copyright\b|copr\.")
_NOTICE_PARTS = re.compile(r"[,;|]|\.\s|\s[-/]\s")


def _copyright_notice(key: str) -> str | None:
    if "all rights reserved" in key:
        return ALL_RIGHTS_RESERVED
    if not _COPYRIGHT.match(key):
        return None
    # "© 2019 Jane Doe, CC BY-SA 4.0": a notice that names a licence grants that licence.
    for part in _NOTICE_PARTS.split(key):
        part = part.strip(" .")
        if part and not _COPYRIGHT.match(part):
            name = _recognise(part)
            if name not in (None, ALL_RIGHTS_RESERVED):
                return name
    return ALL_RIGHTS_RESERVED


_VERSION_1 = r"(?: v?1(?:\.0)?)?"
_PUBLIC_DOMAIN_PATTERNS = (
    (rf"cc[ -]?(?:0|zero){_VERSION_1}(?: universal)?(?: public domain dedication)?", "CC0-1.0"),
    (rf"(?:cc[ -]?)?(?:pdm|public domain mark){_VERSION_1}(?: universal)?", "CC-PDM-1.0"),
    (r"(?:cc )?public domain dedication and certification|(?:cc[ -]?)?pddc", "CC-PDDC"),
    (r"pd[ -]usgov(?:[ -].*)?", US_GOVERNMENT_WORK),  # Wikimedia's PD-USGov-* tags
    (r"(?:a )?work of (?:the )?(?:united states|usa?)(?: federal)? government", US_GOVERNMENT_WORK),
    (r"(?:united states|usa?)(?: federal)? gov(?:ernment)?(?: work)?", US_GOVERNMENT_WORK),
    (r"no known (?:copyright )?restrictions", NO_KNOWN_RESTRICTIONS),
    (
        r"(?:this (?:image|photo|work|file) is )?(?:(?:released )?in(?:to)? the )?"
        r"(?:public[ -]?domain|pd)(?: work| image| photo| dedication)?"
        r"(?: in the (?:united states|us|usa))?",
        PUBLIC_DOMAIN,
    ),
    (r"pd-[a-z0-9-]+", PUBLIC_DOMAIN),  # Wikimedia's PD-old, PD-US, PD-self... tags
)
_PUBLIC_DOMAIN = tuple((re.compile(pattern), name) for pattern, name in _PUBLIC_DOMAIN_PATTERNS)


def _public_domain(key: str) -> str | None:
    words = _words(key)
    no_dots = words.replace(".", "")  # "U.S." → "us"
    for pattern, name in _PUBLIC_DOMAIN:
        if pattern.fullmatch(words) or pattern.fullmatch(no_dots):
            return name
    return None


_GFDL = re.compile(
    r"(?:gnu )?(?:free documentation licen[cs]e|fdl|gfdl)(?: v| version)?[ -]?v?(1\.[123])?"
    r"(?:[ -]?(only|or later|or-later|\+|or any later version))?"
)


def _gfdl(key: str) -> str | None:
    match = _GFDL.fullmatch(_words(key))
    if not match:
        return None
    version, scope = match[1], match[2]
    if version is None:
        return "GFDL-1.2-or-later"  # Wikimedia's bare {{GFDL}}: "version 1.2 or any later version"
    return f"GFDL-{version}-{'only' if scope in (None, 'only') else 'or-later'}"


# --- Creative Commons names and short codes -----------------------------------------------------

_CC_ELEMENTS = ("by", "nc", "nd", "sa")  # in the order SPDX ids spell them
_CC_ELEMENT_WORDS = (
    (re.compile(r"attribution"), " by "),
    (re.compile(r"non[ -]?commercial"), " nc "),
    (re.compile(r"share[ -]?alike"), " sa "),
    (re.compile(r"no[ -]?deriv(?:ative)?s?(?: works)?"), " nd "),
)
_CC_FILLER = frozenset(
    {"licence", "license", "licensed", "public", "international", "generic", "unported"}
    | {"universal", "version", "deed"}
)
_CC_VERSIONS = ("4.0", "3.0", "2.5", "2.1", "2.0", "1.0")
_CC_VERSION = re.compile(r"v?([1-4])(?:\.([0-5]))?")
# Ported licences: names and codes of jurisdictions → the suffix SPDX uses. SPDX has ids for a
# few ports (CC-BY-3.0-DE); the others normalise to the generic licence of the same family.
_JURISDICTIONS = {
    **{code: code.upper() for code in (
        "ar", "at", "au", "be", "bg", "br", "ca", "ch", "cl", "cn", "co", "cr", "cz", "de", "dk",
        "ec", "ee", "es", "fi", "fr", "gr", "gt", "hk", "hr", "hu", "ie", "igo", "il", "in", "it",
        "jp", "kr", "lu", "mk", "mt", "mx", "my", "nl", "no", "nz", "pe", "ph", "pl", "pr", "pt",
        "ro", "rs", "se", "sg", "si", "th", "tw", "ug", "uk", "us", "ve", "vn", "za", "scotland",
    )},
    "argentina": "AR", "australia": "AU", "austria": "AT", "belgium": "BE", "brazil": "BR",
    "canada": "CA", "chile": "CL", "china": "CN", "china mainland": "CN", "colombia": "CO",
    "croatia": "HR", "czech republic": "CZ", "denmark": "DK", "england wales": "UK",
    "england and wales": "UK", "uk england wales": "UK", "uk england and wales": "UK",
    "finland": "FI", "france": "FR", "germany": "DE", "deutschland": "DE", "greece": "GR",
    "hong kong": "HK", "hungary": "HU", "india": "IN", "ireland": "IE", "israel": "IL",
    "italy": "IT", "japan": "JP", "korea": "KR", "south korea": "KR", "luxembourg": "LU",
    "mexico": "MX", "netherlands": "NL", "the netherlands": "NL", "new zealand": "NZ",
    "norway": "NO", "peru": "PE", "philippines": "PH", "poland": "PL", "portugal": "PT",
    "romania": "RO", "serbia": "RS", "singapore": "SG", "slovenia": "SI", "south africa": "ZA",
    "spain": "ES", "sweden": "SE", "switzerland": "CH", "taiwan": "TW", "united kingdom": "UK",
    "united states": "US", "usa": "US",
}  # fmt: skip


def _creative_commons(key: str) -> str | None:
    words = _words(key)
    # Flickr's names ("Attribution-NonCommercial License", FFHQ's `metadata.license`) carry no
    # version: Flickr offers the 2.0 licences. A bare short code ("by-nc") means the current 4.0.
    flickr_name = "attribution" in words and not words.startswith("cc")
    for pattern, element in _CC_ELEMENT_WORDS:
        words = pattern.sub(element, words)
    tokens = [t for t in re.split(r"[\s/&-]+", words) if t and t not in _CC_FILLER]
    return _creative_commons_tokens(tokens, default_version="2.0" if flickr_name else "4.0")


def _creative_commons_tokens(tokens: list[str], default_version: str = "4.0") -> str | None:
    """The SPDX id of `[cc] element... [version [jurisdiction...]]` tokens, e.g. by nc 2.0 de."""
    tokens = tokens[1:] if tokens[:1] == ["cc"] else tokens
    elements = set()
    while tokens and tokens[0] in _CC_ELEMENTS:
        elements.add(tokens.pop(0))
    if not elements:
        return None
    version = _CC_VERSION.fullmatch(tokens[0]) if tokens else None
    if tokens and not version:
        return None
    jurisdiction = " ".join(tokens[1:])
    if jurisdiction and jurisdiction not in _JURISDICTIONS:
        return None
    family = "CC-" + "-".join(e.upper() for e in _CC_ELEMENTS if e in elements)
    version_text = f"{version[1]}.{version[2] or 0}" if version else default_version
    if jurisdiction:
        ported = _spdx_id(f"{family}-{version_text}-{_JURISDICTIONS[jurisdiction]}")
        if ported:
            return ported
    if version_text not in _CC_VERSIONS:
        return None
    # A version SPDX lacks for this family (the 2.1 ports) falls back to the nearest earlier one.
    for candidate in _CC_VERSIONS[_CC_VERSIONS.index(version_text) :]:
        found = _spdx_id(f"{family}-{candidate}")
        if found:
            return found
    return None


# --- expressions in free text -------------------------------------------------------------------

_OPERATOR = re.compile(r"(\(|\)|\band/or\b|\bor\b|\band\b)")


def _free_text_expression(key: str) -> Normalised | None:
    """Reads "CC BY 2.0 or Public Domain Mark" as an expression of recognised licences."""
    parts = [p.strip() for p in _OPERATOR.split(key)]
    if not any(p in ("or", "and", "and/or") for p in parts):
        return None
    symbols, recognised = [], False
    for part in filter(None, parts):
        if part in ("(", ")"):
            symbols.append(part)
        elif part in ("or", "and/or"):
            symbols.append("OR")
        elif part == "and":
            symbols.append("AND")
        else:
            name = _recognise(part) or UNKNOWN
            recognised = recognised or name != UNKNOWN
            symbols.append(name)
    if not recognised:
        return None
    try:
        parsed = _ANY_SYMBOLS.parse(" ".join(symbols), strict=True)
    except _PARSE_ERRORS:
        return None
    if parsed is None:
        return None
    name = parsed.render()
    if any(symbol in NAMED_CLASSES for symbol in _ANY_SYMBOLS.license_keys(parsed)):
        return Normalised(None, name)
    spdx = _spdx_expression(name)
    return Normalised(spdx, spdx or name)
