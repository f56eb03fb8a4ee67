"""Named signals beyond the words: links, identity, contact and money patterns, shape, context.

Each signal is a number in about [0, 1.5] with a name that reads as a reason. A field that is
missing gives 0 for every signal that reads it: unknown is never evidence of spam.
"""

from __future__ import annotations

import math
import re
import unicodedata

import numpy as np

from spamguard.comment import Comment
from spamguard.normalize import Link, Text, host_of
from spamguard.policy import MIN_HUMAN_TIME_ON_PAGE_MS

SHORTENERS = frozenset(
    "bit.ly bitly.com tinyurl.com goo.gl t.co ow.ly is.gd buff.ly adf.ly bit.do cutt.ly rb.gy "
    "shorturl.at tiny.cc rebrand.ly t.ly v.gd shorte.st ouo.io linktr.ee lnkd.in db.tt qr.ae "
    "su.pr x.co youtu.be soo.gd s.id clck.ru u.to".split()
)
SUSPICIOUS_TLDS = frozenset(
    "xyz top online site club shop store tk ml ga cf gq ru su pw win bid loan click link live "
    "vip work date racing download stream review trade cam icu buzz rest fit".split()
)
FREE_MAIL = frozenset(
    "gmail.com googlemail.com yahoo.com yahoo.co.uk hotmail.com outlook.com live.com msn.com "
    "aol.com icloud.com me.com mail.com gmx.com gmx.de gmx.net web.de yandex.ru yandex.com mail.ru "
    "protonmail.com proton.me zoho.com qq.com 163.com 126.com rediffmail.com inbox.ru list.ru bk.ru".split()
)
DISPOSABLE_MAIL = frozenset(
    "mailinator.com guerrillamail.com guerrillamail.net sharklasers.com 10minutemail.com "
    "10minutemail.net tempmail.com temp-mail.org throwawaymail.com yopmail.com yopmail.net "
    "trashmail.com getnada.com dispostable.com maildrop.cc mintemail.com fakeinbox.com "
    "spamgourmet.com mailnesia.com tempr.email discard.email emailondeck.com mohmal.com "
    "mytemp.email tempail.com burnermail.io mailcatch.com spam4.me grr.la".split()
)
# Second-level labels under which registrations happen one level down (example.co.uk).
_SECOND_LEVEL = frozenset("co com net org gov ac edu ne or go".split())
# Words that make an author "name" a keyword list or an advert rather than a person.
_COMMERCIAL = re.compile(
    r"\b(?:buy|cheap|best|discount|online|free|loans?|payday|casino|poker|viagra|cialis|pills?|pharmacy|"
    r"seo|marketing|services?|escort|dating|crypto|bitcoin|forex|invest(?:ment|ing)?|insurance|"
    r"mortgage|replica|outlet|shop|store|sale|deals?|coupons?|review|agency|company|ltd|inc|llc|"
    r"repair|plumbing|lawyer|attorney|dentist|clinic|rehab|essay|writing|hosting|followers|likes)\b",
    re.IGNORECASE,
)
_NAME_URL = re.compile(r"https?://|www\.|\.(?:com|net|org|info|biz|ru)\b", re.IGNORECASE)
_PHONE = re.compile(r"(?<![\w+])\+?\d(?:[\s().-]{0,2}\d){8,14}(?!\w)")
_SUPPORT = re.compile(
    r"\b(?:customer|tech(?:nical)?|help|support|care|service)\s+(?:support|care|service|help)?\s*"
    r"(?:phone|number|no\.?|line|desk|helpline|hotline)\b|\btoll[- ]?free\b|\bhelpline\b|\bhotline\b",
    re.IGNORECASE,
)
_MESSENGER = re.compile(
    r"\b(?:whats\s?app|telegram|wa\.me|t\.me|signal app|wechat|kik|snapchat|dm me|inbox me|"
    r"message me|text me|contact (?:him|her|me|them)|reach (?:him|her|me|them))\b",
    re.IGNORECASE,
)
_WALLET = re.compile(r"\b(?:bc1[a-z0-9]{25,60}|[13][a-km-zA-HJ-NP-Z1-9]{25,34}|0x[a-fA-F0-9]{40})\b")
_MONEY = re.compile(
    r"[$€£₹]\s?\d[\d,.]{0,20}\s?[kKmM]?|(?<![\d,.])\d[\d,.]{0,20}\s?(?:usd|dollars|euros?|btc|eth|usdt)\b",
    re.IGNORECASE,
)
_REPEAT = re.compile(r"(.)\1{3,}")
_EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf\U0001f000-\U0001f2ff]")
# Five digits and more (a birth year is four), six consonants in a row (German names reach five),
# or letters and digits alternating three times: what generated addresses look like.
_RANDOM_LOCAL = re.compile(r"\d{5,}|[bcdfghjklmnpqrstvwxz]{6,}|(?:[a-z]+\d+){3,}", re.IGNORECASE)
_NAME_WORD = re.compile(r"[^\W\d_]{2,}")

COMMENT_TYPES = ("reply", "trackback", "pingback", "contact-form", "signup", "forum-post")

SIGNALS: tuple[tuple[str, str], ...] = (
    ("link:count", "links in the comment"),
    ("link:any", "the comment contains a link"),
    ("link:distinct_domains", "distinct registered domains linked"),
    ("link:shortener", "link through a URL shortener"),
    ("link:ip_host", "link to a bare IP address"),
    ("link:punycode", "link to a punycode (look-alike) domain"),
    ("link:suspicious_tld", "link under a TLD common in spam"),
    ("link:density", "links per word"),
    ("link:html_anchor", "HTML anchor tags"),
    ("link:anchor_text", "link hidden behind anchor text"),
    ("link:author_url_promoted", "the author's own site is linked in the text"),
    ("ident:name_is_url", "author name is a URL or domain"),
    ("ident:name_keywords", "author name reads like keywords or a brand"),
    ("ident:email_free", "free webmail address"),
    ("ident:email_disposable", "disposable e-mail address"),
    ("ident:email_random", "random-looking e-mail address"),
    ("ident:name_email_mismatch", "author name unrelated to the e-mail address"),
    ("contact:phone", "phone number"),
    ("contact:support_number", "'customer support number' wording"),
    ("contact:messenger", "asks to be contacted on a messenger"),
    ("money:crypto_wallet", "crypto wallet address"),
    ("money:amount", "money amounts"),
    ("shape:length", "length of the comment"),
    ("shape:caps", "share of capital letters"),
    ("shape:digits", "share of digits"),
    ("shape:repeated_chars", "characters repeated four times or more"),
    ("shape:emoji", "emoji"),
    ("shape:exclamations", "exclamation marks"),
    *((f"ctx:type_{t}", f"comment type {t}") for t in COMMENT_TYPES),
    ("ctx:type_other", "unusual comment type"),
    ("ctx:fast_submit", f"form sent less than {MIN_HUMAN_TIME_ON_PAGE_MS} ms after it was shown"),
    ("ctx:honeypot", "hidden honeypot field filled in"),
)
SIGNAL_NAMES = tuple(name for name, _ in SIGNALS)
SIGNAL_HELP = dict(SIGNALS)
_INDEX = {name: i for i, name in enumerate(SIGNAL_NAMES)}


def registered_domain(host: str) -> str:
    """Return the registrable part of a host name (example.co.uk for www.shop.example.co.uk)."""
    labels = host.lower().strip(".").split(".")
    if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _log_count(n: int) -> float:
    return math.log1p(n) / 2.0


def link_signals(comment: Comment, text: Text, out: np.ndarray, details: dict[str, str]) -> None:
    """Fill the link signals of one comment."""
    links = text.links
    if not links:
        return
    domains = {registered_domain(link.host) for link in links if not link.is_ip}
    out[_INDEX["link:count"]] = _log_count(len(links))
    out[_INDEX["link:any"]] = 1.0
    out[_INDEX["link:distinct_domains"]] = _log_count(len(domains))
    details["link:count"] = details["link:distinct_domains"] = ", ".join(sorted(domains)[:5])
    _flag(out, details, "link:shortener", [lk.host for lk in links if lk.host in SHORTENERS])
    _flag(out, details, "link:ip_host", [lk.host for lk in links if lk.is_ip])
    _flag(out, details, "link:punycode", [lk.host for lk in links if "xn--" in lk.host])
    _flag(
        out,
        details,
        "link:suspicious_tld",
        [lk.host for lk in links if lk.host.rsplit(".", 1)[-1] in SUSPICIOUS_TLDS],
    )
    words = max(1, text.text.count(" ") + 1)
    out[_INDEX["link:density"]] = min(1.0, 5.0 * len(links) / words)
    if text.html_links:
        out[_INDEX["link:html_anchor"]] = _log_count(text.html_links)
    _flag(out, details, "link:anchor_text", [lk.anchor for lk in links if _hides_target(lk)])
    if comment.author_url:
        own = host_of(comment.author_url)
        if own and registered_domain(own) in domains:
            out[_INDEX["link:author_url_promoted"]] = 1.0
            details["link:author_url_promoted"] = registered_domain(own)


def _hides_target(link: Link) -> bool:
    anchor = link.anchor
    return bool(anchor) and registered_domain(link.host) not in anchor.lower()  # type: ignore[union-attr]


def _flag(out: np.ndarray, details: dict[str, str], name: str, hits: list[str | None]) -> None:
    if hits:
        out[_INDEX[name]] = 1.0
        details[name] = ", ".join(sorted({h for h in hits if h}))[:200]


def identity_signals(comment: Comment, out: np.ndarray, details: dict[str, str]) -> None:
    """Fill the author-identity signals of one comment."""
    name = comment.author_name
    if name:
        if _NAME_URL.search(name):
            out[_INDEX["ident:name_is_url"]] = 1.0
            details["ident:name_is_url"] = name[:80]
        keywords = _COMMERCIAL.findall(name)
        if keywords:
            out[_INDEX["ident:name_keywords"]] = min(1.5, 0.5 * len(keywords) + 0.5)
            details["ident:name_keywords"] = name[:80]
    email = comment.author_email
    if email:
        local, _, domain = email.rpartition("@")
        if domain in FREE_MAIL:
            out[_INDEX["ident:email_free"]] = 1.0
            details["ident:email_free"] = domain
        if domain in DISPOSABLE_MAIL:
            out[_INDEX["ident:email_disposable"]] = 1.0
            details["ident:email_disposable"] = domain
        if _RANDOM_LOCAL.search(local):
            out[_INDEX["ident:email_random"]] = 1.0
            details["ident:email_random"] = local[:40]
        # Compare in ASCII (Zoë → zoe); a name in another script cannot be compared at all.
        ascii_name = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode()
        parts = [w.lower() for w in _NAME_WORD.findall(ascii_name)]
        compact = re.sub(r"[^a-z]", "", local.lower())
        if parts and compact and not any(p[:3] in compact for p in parts):
            out[_INDEX["ident:name_email_mismatch"]] = 1.0
            details["ident:name_email_mismatch"] = f"{(name or '')[:40]} / {local[:40]}"


def _any_of(*triggers: str) -> re.Pattern[str]:
    """Match any of the trigger substrings: one scan of the text instead of one per trigger."""
    return re.compile("|".join(map(re.escape, triggers)))


# Each pattern runs only when one of its cheap trigger substrings is in the lower-cased text:
# most comments trigger none, and a regex scan costs far more than a substring test.
_PATTERNS = (
    ("contact:phone", _PHONE, None, 9),
    ("contact:support_number", _SUPPORT, _any_of("support", "care", "service", "help", "toll", "hotline"), 0),
    (
        "contact:messenger",
        _MESSENGER,
        _any_of(
            "whats",
            "telegram",
            "wa.me",
            "t.me",
            "signal",
            "wechat",
            "kik",
            "snapchat",
            "dm me",
            "inbox me",
            "message me",
            "text me",
            "contact",
            "reach",
        ),
        0,
    ),
    ("money:crypto_wallet", _WALLET, None, 4),
    ("money:amount", _MONEY, _any_of("$", "€", "£", "₹", "usd", "dollar", "euro", "btc", "eth"), 1),
)
_ASCII_NOT_LETTER = bytes(c for c in range(128) if not chr(c).isalpha())
_ASCII_NOT_UPPER = bytes(c for c in range(128) if not chr(c).isupper())
_ASCII_NOT_DIGIT = bytes(c for c in range(128) if not chr(c).isdigit())


def _char_classes(sample: str) -> tuple[int, int, int]:
    """Count letters, capitals and digits (bytes.translate on ASCII runs at C speed)."""
    if sample.isascii():
        raw = sample.encode()
        return (
            len(raw.translate(None, _ASCII_NOT_LETTER)),
            len(raw.translate(None, _ASCII_NOT_UPPER)),
            len(raw.translate(None, _ASCII_NOT_DIGIT)),
        )
    return sum(map(str.isalpha, sample)), sum(map(str.isupper, sample)), sum(map(str.isdigit, sample))


def content_signals(text: str, lower: str, out: np.ndarray, details: dict[str, str]) -> None:
    """Fill the contact, money and shape signals of normalised text (and its lower-case form)."""
    sample = text[:4096]
    letters, upper, digits = _char_classes(sample)
    for name, pattern, trigger, min_digits in _PATTERNS:
        if digits < min_digits or trigger is not None and trigger.search(lower) is None:
            continue
        found = pattern.findall(text)
        if found:
            out[_INDEX[name]] = min(1.5, _log_count(len(found)) * 2)
            details[name] = ", ".join(dict.fromkeys(found))[:120]
    n = len(text)
    out[_INDEX["shape:length"]] = math.log1p(n) / 8.0
    if letters >= 10:
        out[_INDEX["shape:caps"]] = upper / letters
    if n:
        out[_INDEX["shape:digits"]] = min(1.0, 3.0 * digits / len(sample))
    if _REPEAT.search(text):
        out[_INDEX["shape:repeated_chars"]] = 1.0
    if not text.isascii():
        emoji = _EMOJI.findall(text)
        if emoji:
            out[_INDEX["shape:emoji"]] = _log_count(len(emoji))
    bangs = text.count("!")
    if bangs:
        out[_INDEX["shape:exclamations"]] = _log_count(bangs)


def context_signals(comment: Comment, out: np.ndarray, details: dict[str, str]) -> None:
    """Fill the request-context signals of one comment."""
    ctype = comment.comment_type
    if ctype != "comment":
        key = f"ctx:type_{ctype}" if ctype in COMMENT_TYPES else "ctx:type_other"
        out[_INDEX[key]] = 1.0
        details[key] = ctype[:32]
    if comment.time_on_page_ms is not None and comment.time_on_page_ms < MIN_HUMAN_TIME_ON_PAGE_MS:
        out[_INDEX["ctx:fast_submit"]] = 1.0
        details["ctx:fast_submit"] = f"{comment.time_on_page_ms} ms"
    if comment.honeypot:
        out[_INDEX["ctx:honeypot"]] = 1.0


def signals(comment: Comment, text: Text, lower: str) -> tuple[np.ndarray, dict[str, str]]:
    """Compute every named signal of a comment, with a short detail for each that fired."""
    out = np.zeros(len(SIGNAL_NAMES))
    details: dict[str, str] = {}
    link_signals(comment, text, out, details)
    identity_signals(comment, out, details)
    content_signals(text.text, lower, out, details)
    context_signals(comment, out, details)
    return out, details
