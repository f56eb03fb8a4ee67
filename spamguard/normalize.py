"""Normalise comment text and pull out its links: the same steps for training and scoring."""

from __future__ import annotations

import functools
import html
import ipaddress
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

# Features read at most this many characters of content: the tail of a 1 MiB comment says
# nothing the head does not, and bounding it bounds the time to score any comment.
MAX_TEXT_CHARS = 4096
# Raw content (HTML included) read before tags are stripped; markup is often larger than the
# text it carries.
MAX_RAW_CHARS = 3 * MAX_TEXT_CHARS
MAX_LINKS = 64

# Zero-width, BOM, bidi-control and soft-hyphen characters are invisible: spammers use them to
# split words, and the YouTube collection carries a U+FEFF that correlates with the label.
_INVISIBLE = [0x00AD, 0x034F, 0x061C, 0x180E, 0xFEFF, *range(0x200B, 0x2010), *range(0x202A, 0x202F)]
_INVISIBLE += [*range(0x2060, 0x2070), *range(0xFE00, 0xFE10)]
_CONTROLS = [c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)] + [*range(0x7F, 0xA0)]
_DELETE = re.compile("[" + "".join(re.escape(chr(c)) for c in _INVISIBLE + _CONTROLS) + "]")
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Look-alike letters from Cyrillic and Greek (fullwidth and mathematical letters are folded by
# NFKC). Folded only in words that are not genuinely Cyrillic or Greek: see _fold_word.
_CONFUSABLES = str.maketrans(
    "аеорсухіјѕԁһӏԛԝАВЕКМНОРСТХУІЈЅԜαονρτικυχΑΒΕΖΗΙΚΜΝΟΡΤΥΧ",
    "aeopcyxijsdhlqwABEKMHOPCTXYIJSWaovptikuxABEZHIKMNOPTYX",
)
_CONFUSABLE_CHARS = "аеорсухіјѕԁһӏԛԝАВЕКМНОРСТХУІЈЅԜαονρτικυχΑΒΕΖΗΙΚΜΝΟΡΤΥΧ"
# A word's combining marks are part of it, as a folded letter composes with its accent (see
# clean_text). A word starts only where a run of letters and marks does: \b would also match after
# each mark, and rescan the rest of the run from there.
_MARKS = "\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_CONFUSABLE_WORD = re.compile(rf"(?<![\w{_MARKS}])[\w{_MARKS}]*[{_CONFUSABLE_CHARS}][\w{_MARKS}]*")
_CONFUSABLE = re.compile(f"[{_CONFUSABLE_CHARS}]")
_LATIN = re.compile(r"[A-Za-z]")
_GENUINE_SCRIPT = re.compile(
    "["
    + "".join(
        chr(c)
        for c in [*range(0x0391, 0x03CA), *range(0x0400, 0x0460)]
        if chr(c).isalpha() and chr(c) not in _CONFUSABLE_CHARS
    )
    + "]"
)

_ANCHOR_OPEN = re.compile(r"<a[\s>]", re.IGNORECASE)
# A quoted value runs to its closing quote (or the end of the tag), white space and all; a bare
# one to white space. One group matches: read it with m.lastindex.
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]{1,2000})|'([^']{1,2000})|([^"'\s>]{1,2000}))""", re.IGNORECASE)
_TAB_NEWLINE = re.compile("[\t\n\r]")
# What a decoded host may not hold (the forbidden domain code points of the WHATWG URL standard).
_FORBIDDEN_HOST = re.compile(r"[\x00-\x20\x7f#%/:<>?@\[\\\]^|]")
_ANCHOR_CLOSE = re.compile(r"</a\s*>", re.IGNORECASE)
# Tags only: comments are cut out first, by _drop_comments, in one linear pass.
_TAG = re.compile(r"</?[A-Za-z][^<>]{0,2000}>")
_SPACE = re.compile(r"\s+")
# URLs with a scheme or www., and bare domains under TLDs that are rarely anything else.
_URL = re.compile(
    r"(?:\bhttps?://|\bwww\.)[^\s<>\"'()\[\]{}]{1,2000}"
    r"|\b(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.){1,5}"
    r"(?:com|net|org|info|biz|ru|xyz|top|online|site|club|shop|store|io|co|me|us|uk|de|in|cn|tk|ml|ga|cf|gq"
    r"|ly|gl|gd|vip|win|bid|loan|click|link|live|pro|cc|ws|su|pw)\b(?:/[^\s<>\"']{0,2000})?",
    re.IGNORECASE,
)
_TRAILING_PUNCT = ".,;:!?)]}'\""
# A scheme as RFC 3986 writes it (any length: android-app, chrome-extension), then "//".
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


@dataclass(frozen=True, slots=True)
class Link:
    """A link in a comment: where it points and the text it was shown with, if any."""

    url: str
    host: str
    anchor: str | None = None

    @property
    def is_ip(self) -> bool:
        """Tell whether the host is an IP literal."""
        return is_ip_host(self.host)


@dataclass(frozen=True, slots=True)
class Text:
    """A comment's content made comparable: visible text, its links and its original size."""

    text: str
    links: tuple[Link, ...]
    raw_length: int
    html_links: int


def is_ip_host(host: str) -> bool:
    """Tell whether a host (as host_of returns it) is an IP literal."""
    if not (host[:1].isdigit() or ":" in host):
        return False
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def with_scheme(url: str) -> str:
    """Return the URL with a scheme: http: before a scheme-relative URL, http:// before a bare one."""
    if _SCHEME.match(url) is not None:
        return url
    # A "://" further on (example.com/?next=https://x.org/) is in the path or query, not a scheme.
    return "http:" + url if url.startswith("//") else "http://" + url


def host_of(url: str) -> str | None:
    """Return the lower-case host of a URL (scheme optional), or None."""
    try:
        host = urlsplit(with_scheme(url)).hostname
    except ValueError:
        return None
    if not host:
        return None
    if "%" in host:
        if ":" in host:  # an IPv6 zone id: urllib lower-cases only what comes before its "%"
            host = host.lower()
        elif (decoded := _decode_host(host)) is None:
            return None
        else:
            host = decoded
    return host.rstrip(".") or None


def ascii_host(host: str) -> str:
    """Return a host with its Unicode labels in their ASCII (punycode) form, the one name a browser
    resolves: bücher.example and xn--bcher-kva.example are one host to the lists (host_of keeps
    what was written, for the signals). A host IDNA cannot encode (an over-long label) is returned
    as it is."""
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def ascii_email(address: str) -> str:
    """Return an e-mail address with its domain in ASCII: bob@bücher.example is
    bob@xn--bcher-kva.example, one address to the lists and the history."""
    local, at, domain = address.rpartition("@")
    return f"{local}@{ascii_host(domain)}" if at and not domain.isascii() else address


def _decode_host(host: str) -> str | None:
    """Return a host with percent escapes decoded, as a browser reads it (http://%62it.ly is bit.ly).

    None if the escapes are not UTF-8 or decode to a character no host can hold (a browser
    refuses such a URL): "%2F" is not a way to hide a path in the host.
    """
    try:
        decoded = unquote(host, errors="strict")
    except UnicodeDecodeError:
        return None
    if not decoded.isascii():
        decoded = clean_text(decoded)  # full-width letters and look-alikes, as in the text
    if not decoded or _FORBIDDEN_HOST.search(decoded) is not None:
        return None
    return decoded.lower()


def clean_text(text: str) -> str:
    """Apply the character-level normalisation: NFKC, invisibles out, look-alikes folded, spaces."""
    if text.isascii():
        # ASCII is already NFKC and has no look-alikes: only control characters can be left.
        text = _ASCII_CONTROL.sub("", text)
    else:
        # Invisibles go before NFKC: one between a letter and its accent would keep them apart.
        text = unicodedata.normalize("NFKC", _DELETE.sub("", text))
        if _CONFUSABLE.search(text) is not None:  # most text has none: one scan of a character class
            # In genuine Cyrillic or Greek text (letters with no Latin twin), short words made only of
            # look-alikes (сахар, και) are real words: fold only the words that mix in Latin letters.
            genuine = _GENUINE_SCRIPT.search(text) is not None
            text = _CONFUSABLE_WORD.sub(_fold_mixed_word if genuine else _fold_word, text)
            # A folded letter composes with the accent after it (Cyrillic е and U+0301 become é):
            # compose now, so that cleaning the result again changes nothing.
            text = unicodedata.normalize("NFC", text)
    return _SPACE.sub(" ", text).strip()


def _fold_word(match: re.Match[str]) -> str:
    word = match.group(0)
    # A word mixing Latin with look-alikes is a disguise; a word made only of look-alikes could
    # be written in Latin (see _fold_lookalikes for text that is genuinely Cyrillic or Greek).
    if _LATIN.search(word) or all(not c.isalpha() or c in _CONFUSABLE_CHARS for c in word):
        return word.translate(_CONFUSABLES)
    return word


def _fold_mixed_word(match: re.Match[str]) -> str:
    word = match.group(0)
    return word.translate(_CONFUSABLES) if _LATIN.search(word) else word


def _link(url: str, anchor: str | None = None) -> Link | None:
    whole = url.strip()
    url = whole.rstrip(_TRAILING_PUNCT)
    host = host_of(url)
    if host is None and (close := whole.find("]", len(url))) >= 0:
        # The "]" that closes an IPv6 literal is not punctuation, nor what it closes (http://[::]).
        url = whole[: close + 1]
        host = host_of(url)
    if not host:
        return None
    return Link(url, host, anchor)


def _href_url(href: str) -> str:
    """Read an href value as a browser does, then clean it as text is, so its host reads the same."""
    # The HTML parser decodes entities; the URL parser drops tabs and newlines anywhere and C0
    # controls and spaces at both ends (WHATWG URL). White space left inside ends the URL, as it
    # ends a link found in the text: a host never holds any.
    url = html.unescape(href)
    if url.isascii() and url.isprintable() and " " not in url:
        return url  # most hrefs: nothing to strip, drop or fold
    return clean_text(_TAB_NEWLINE.sub("", url)).partition(" ")[0]


def _drop_comments(raw: str) -> str:
    """Cut out HTML comments; an unclosed one hides the rest, as it does in a browser."""
    parts, pos = [], 0
    while (start := raw.find("<!--", pos)) >= 0:
        parts.append(raw[pos:start])
        end = raw.find("-->", start + 4)
        if end < 0:
            return " ".join(parts)
        pos = end + 3
    parts.append(raw[pos:])
    return " ".join(parts)


def _anchors(raw: str) -> Iterator[tuple[str, str]]:
    """Yield (href, anchor text) of each <a href> in one left-to-right pass (no rescans)."""
    closing = None  # the next </a> at or after the current tag, or -1 for none left
    pos = 0
    while (m := _ANCHOR_OPEN.search(raw, pos)) is not None:
        start = m.start()
        end = raw.find(">", start + 2)
        if end < 0:
            return  # no tag can end any more
        pos = end + 1
        href = _HREF.search(raw, start, end)
        if href is None:
            continue
        if closing is None or 0 <= closing.start() < pos:
            closing = _ANCHOR_CLOSE.search(raw, pos) or _NO_CLOSE
        anchor = raw[pos : closing.start()] if closing is not _NO_CLOSE else ""
        yield href.group(href.lastindex or 0), anchor[:500]


class _NoClose:
    def start(self) -> int:
        return -1


_NO_CLOSE = _NoClose()


def _link_key(link: Link) -> str:
    """Identify a link independently of its scheme, a www. prefix and a trailing slash."""
    scheme = _SCHEME.match(link.url)
    rest = link.url[scheme.end() :] if scheme is not None else link.url.removeprefix("//")
    return rest.lower().removeprefix("www.").rstrip("/")


# /score normalises each comment twice (the model's features, then the history and list rules); the
# result is immutable, so the second call reuses the first. A few entries cover the worker's threads.
@functools.lru_cache(maxsize=16)
def normalize(content: str) -> Text:
    """Turn raw comment content (maybe HTML) into normalised text and its links."""
    raw_length = len(content)
    raw = content[:MAX_RAW_CHARS]
    links: list[Link] = []
    html_links = 0
    if "<" in raw:
        raw = _drop_comments(raw)
        for href, anchor in _anchors(raw):
            html_links += 1
            shown = clean_text(html.unescape(_TAG.sub(" ", anchor)))
            link = _link(_href_url(href), shown or None)
            if link is not None and len(links) < MAX_LINKS:
                links.append(link)
        raw = _TAG.sub(" ", raw)
    if "&" in raw:
        raw = html.unescape(raw)
    text = clean_text(raw)[:MAX_TEXT_CHARS]
    seen = {_link_key(link) for link in links}
    # Every URL has a dot, maybe escaped (%2E): look for them only in the words that have one.
    for word in text.split() if "." in text or "%" in text else ():
        if "." not in word and "%" not in word:
            continue
        for match in _URL.finditer(word):
            link = _link(match.group(0))
            if link is not None and _link_key(link) not in seen and len(links) < MAX_LINKS:
                seen.add(_link_key(link))
                links.append(link)
    return Text(text, tuple(links), raw_length, html_links)
