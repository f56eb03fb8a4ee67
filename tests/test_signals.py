"""Tests for spamguard.signals: each named signal fires on its evidence and only on it."""

from __future__ import annotations

import time

import pytest

from spamguard.comment import parse_record
from spamguard.features import FeatureSpace, extract
from spamguard.signals import SIGNAL_HELP, SIGNAL_NAMES, registered_domain

# Signals do not depend on the hash sizes: keep the n-gram blocks tiny.
SPACE = FeatureSpace(word_bits=8, char_bits=8)
CONTEXT = "Thanks for the write-up."

# One record per signal that must make it fire (and the detail it must report, if any).
EXAMPLES: dict[str, tuple[dict, str | None]] = {
    "link:count": (
        {"content": "see http://a.example.com and http://b.example.org"},
        "example.com, example.org",
    ),
    "link:any": ({"content": "see http://a.example.com"}, None),
    "link:distinct_domains": ({"content": "http://a.example.com http://b.example.org"}, None),
    "link:shortener": ({"content": "look http://%62it.ly/3xYz"}, "bit.ly"),  # escaped, as browsers read it
    "link:ip_host": ({"content": "go http://198.51.100.7/win"}, "198.51.100.7"),
    "link:punycode": ({"content": "login at http://xn--pypal-4ve.com/"}, "xn--pypal-4ve.com"),
    "link:suspicious_tld": ({"content": "deals at cheap-pills.xyz"}, "cheap-pills.xyz"),
    "link:density": ({"content": "http://a.example.com"}, None),
    "link:html_anchor": ({"content": '<a href="http://a.example.com">a.example.com</a>'}, None),
    "link:anchor_text": ({"content": 'great <a href="http://a.example.com">click here</a>'}, "click here"),
    "link:author_url_promoted": (
        {"content": "visit http://www.shop.example.com/deal", "author_url": "https://shop.example.com"},
        "example.com",
    ),
    "ident:name_is_url": ({"content": CONTEXT, "author_name": "www.cheap-pills.com"}, "www.cheap-pills.com"),
    "ident:name_keywords": ({"content": CONTEXT, "author_name": "Best Cheap Viagra"}, "Best Cheap Viagra"),
    "ident:email_free": ({"content": CONTEXT, "author_email": "ann@gmail.com"}, "gmail.com"),
    "ident:email_disposable": ({"content": CONTEXT, "author_email": "x@mailinator.com"}, "mailinator.com"),
    "ident:email_random": ({"content": CONTEXT, "author_email": "xkcdqwrt8812@example.com"}, "xkcdqwrt8812"),
    "ident:name_email_mismatch": (
        {"content": CONTEXT, "author_name": "Ann Lee", "author_email": "bob.smith@example.com"},
        "Ann Lee / bob.smith",
    ),
    "contact:phone": ({"content": "call +1 (800) 555-0199 now"}, "+1 (800) 555-0199"),
    "contact:support_number": (
        {"content": "the customer support number is below"},
        "customer support number",
    ),
    "contact:messenger": ({"content": "contact me on whatsapp"}, None),
    "contact:handle": ({"content": "follow @cheapdeals_24"}, "@cheapdeals_24"),
    "money:crypto_wallet": (
        {"content": "send to bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"},
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
    ),
    "money:amount": ({"content": "earn $5,000 weekly"}, None),
    "shape:length": ({"content": "hello"}, None),
    "shape:caps": ({"content": "BUY NOW THIS IS AMAZING"}, None),
    "shape:digits": ({"content": "code 12345"}, None),
    "shape:repeated_chars": ({"content": "sooooo good"}, None),
    "shape:emoji": ({"content": "nice 😀"}, None),
    "shape:exclamations": ({"content": "wow!!!"}, None),
    "ctx:type_reply": ({"content": CONTEXT, "comment_type": "reply"}, "reply"),
    "ctx:type_trackback": ({"content": CONTEXT, "comment_type": "trackback"}, "trackback"),
    "ctx:type_pingback": ({"content": CONTEXT, "comment_type": "Pingback"}, "pingback"),
    "ctx:type_contact-form": ({"content": CONTEXT, "comment_type": "contact-form"}, "contact-form"),
    "ctx:type_signup": ({"content": CONTEXT, "comment_type": "signup"}, "signup"),
    "ctx:type_forum-post": ({"content": CONTEXT, "comment_type": "forum-post"}, "forum-post"),
    "ctx:type_other": ({"content": CONTEXT, "comment_type": "review"}, "review"),
    "ctx:fast_submit": ({"content": CONTEXT, "time_on_page_ms": 300}, "300 ms"),
    "ctx:honeypot": ({"content": CONTEXT, "honeypot": "http://x.example"}, None),
}
# Signals that read a field other than content: unknown when the field is missing or unusable.
FIELD_SIGNALS = [
    n for n in SIGNAL_NAMES if n.startswith(("ident:", "ctx:")) or n == "link:author_url_promoted"
]


def fired(record: dict) -> tuple[dict[str, float], dict[str, str]]:
    """Return the non-zero signals of a record and their details."""
    ex = extract([parse_record(record)], SPACE, explain=True)
    values = {name: float(v) for name, v in zip(SIGNAL_NAMES, ex.signals[0], strict=True) if v}
    return values, ex.details[0]


def test_every_signal_has_an_example_and_help():
    assert set(SIGNAL_NAMES) <= set(EXAMPLES)
    assert all(SIGNAL_HELP[name] for name in SIGNAL_NAMES)
    assert len(set(SIGNAL_NAMES)) == len(SIGNAL_NAMES)


@pytest.mark.parametrize("name", [n for n in EXAMPLES if n in SIGNAL_NAMES])
def test_signal_fires_on_its_example(name):
    record, detail = EXAMPLES[name]
    values, details = fired(record)
    assert values.get(name, 0.0) > 0
    if detail is not None:
        assert details[name] == detail
    assert all(0.0 <= v <= 1.5 for v in values.values())


@pytest.mark.parametrize("name", [n for n in EXAMPLES if n in SIGNAL_NAMES])
def test_example_with_only_its_content_leaves_field_signals_unknown(name):
    content = EXAMPLES[name][0]["content"]
    values, _ = fired({"content": content})
    assert {n: values[n] for n in FIELD_SIGNALS if n in values} == {}


def test_a_comment_with_only_content_has_no_identity_or_context_evidence():
    values, details = fired({"content": "Buy cheap pills at http://bit.ly/x!!! Call +1 800 555 0199"})
    assert not [n for n in FIELD_SIGNALS if values.get(n)]
    assert values["link:shortener"] > 0  # content signals still fire


@pytest.mark.parametrize(
    "field, value",
    [
        ("author_email", "not an address"),
        ("author_url", "not a url"),
        ("author_name", "   "),
        ("author_ip", "999.9.9.9"),
        ("comment_type", ""),
        ("time_on_page_ms", "unknown"),
        ("honeypot", ""),
        ("created_at", "yesterday"),
    ],
)
def test_unusable_fields_are_unknown_not_evidence(field, value):
    values, _ = fired({"content": CONTEXT, field: value})
    assert not [n for n in FIELD_SIGNALS if values.get(n)]


@pytest.mark.parametrize(
    "record",
    [
        {"content": CONTEXT, "author_name": "Ann Lee", "author_email": "ann.lee@example.org"},
        {"content": CONTEXT, "author_name": "Bruno Costa", "author_email": "bcosta@example.org"},
        {"content": 'see <a href="http://docs.example.com/x">docs.example.com</a>'},
        {"content": CONTEXT, "time_on_page_ms": 45_000, "comment_type": "comment"},
        {"content": "we met in 2024 and rated it 3.5 of 5"},
        {"content": "see http://a.example.com", "author_url": "https://other.example.org"},
    ],
)
def test_ordinary_evidence_does_not_fire(record):
    values, _ = fired(record)
    quiet = {
        "ident:name_email_mismatch", "ident:email_random", "ident:name_keywords", "link:anchor_text",
        "ctx:fast_submit", "contact:phone", "money:amount", "link:author_url_promoted",
    }  # fmt: skip
    assert not {n for n in quiet if values.get(n)}


@pytest.mark.parametrize("name", ["Jan van der Berg", "Maria de la Cruz", "Abd al Rahman Said"])
def test_long_personal_names_are_not_keywords(name):
    values, _ = fired({"content": CONTEXT, "author_name": name})
    assert "ident:name_keywords" not in values


@pytest.mark.parametrize(
    "name, email",
    [("Zoë Ødegård", "zoe.odegard@example.no"), ("Дмитрий Иванов", "dmitri.ivanov@example.ru"),
     ("王伟", "wangwei@example.cn")],
)  # fmt: skip
def test_accented_and_non_latin_names_match_their_address(name, email):
    values, _ = fired({"content": CONTEXT, "author_name": name, "author_email": email})
    assert "ident:name_email_mismatch" not in values


@pytest.mark.parametrize("email", ["anna1990@gmail.com", "joerg.hirschfeld@example.de"])
def test_ordinary_addresses_are_not_random(email):
    values, _ = fired({"content": CONTEXT, "author_email": email})
    assert "ident:email_random" not in values


def test_counts_grow_and_saturate():
    one, _ = fired({"content": "http://a.example.com"})
    many, _ = fired({"content": " ".join(f"http://s{i}.example{i}.com" for i in range(50))})
    assert many["link:count"] > one["link:count"]
    assert many["link:distinct_domains"] > one["link:distinct_domains"]
    assert many["link:density"] <= 1.0


@pytest.mark.parametrize(
    "host, expected",
    [
        ("www.shop.example.co.uk", "example.co.uk"),
        ("a.b.example.com", "example.com"),
        ("Example.COM.", "example.com"),
        ("example.com", "example.com"),
        ("localhost", "localhost"),
    ],
)
def test_registered_domain(host, expected):
    assert registered_domain(host) == expected


def test_empty_content_has_no_signals():
    values, details = fired({"content": ""})
    assert values == {} and details == {}


def test_number_lists_score_quickly():
    record = {"content": "Paid $20 for the dataset: " + ",".join(str(i) for i in range(1800))}
    fired(record)  # warm up
    start = time.perf_counter()
    fired(record)
    assert time.perf_counter() - start < 0.05
