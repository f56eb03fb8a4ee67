"""Allow and deny lists: validation, regex safety, matching, the CLI, and their effect on /score."""

from __future__ import annotations

import time

import pytest

from spamguard import lists, site_policy
from spamguard.comment import parse_record
from spamguard.lists import ListError, Lists, check_regex
from spamguard.normalize import normalize

HAM = "Thanks for the sourdough write-up, it helped me fix my setup."
SPAM = "Buy cheap viagra online now at http://bit.ly/x9z best price!!!"


def decide(client, auth, **record):  # type: ignore[no-untyped-def]
    body = client.post("/score", json={"content": HAM, **record}, headers=auth).get_json()
    return body["decision"], {r["signal"] for r in body["reasons"]}


# -- validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "stored"),
    [
        ("email", " Ann@Example.COM ", "ann@example.com"),
        ("domain", "*.Example.COM", "example.com"),
        ("domain", "BÜCHER.example", "xn--bcher-kva.example"),
        ("email", "Bob@Bücher.Example", "bob@xn--bcher-kva.example"),
        ("ip", "203.0.113.7/24", "203.0.113.0/24"),
        ("ip", "2001:db8::1", "2001:db8::1/128"),
        ("keyword", "  Cheap   Pills ", "cheap pills"),
        ("regex", r"cheap\s+pills", r"cheap\s+pills"),
    ],
)
def test_entries_are_normalised(kind: str, value: str, stored: str) -> None:
    assert lists.normalise(kind, value) == stored


@pytest.mark.parametrize(
    ("kind", "value"),
    [("email", "nobody"), ("domain", "localhost"), ("domain", "bad domain.com"), ("ip", "300.1.1.1"),
     ("ip", "example.com"), ("keyword", ""), ("keyword", "x" * 201), ("regex", "(unclosed")],
)  # fmt: skip
def test_bad_entries_are_refused(kind: str, value: str) -> None:
    with pytest.raises(ListError):
        lists.normalise(kind, value)


def test_parse_kind() -> None:
    assert lists.parse_kind("Deny-IP") == ("deny", "ip")
    with pytest.raises(ListError, match="allow-email"):
        lists.parse_kind("block-ip")


@pytest.mark.parametrize(
    "pattern", [r"(a+)+$", r"(a*)*b", r"(a|ab)*c", r"(ab|a)+c", r".*a.*b", r"[a-z]*[a-z]*x", r"(\w)\1",
                r"(?=spam)spam", r"(?<!x)y", r"a.{0,100}b.{0,100}c"],
)  # fmt: skip
def test_catastrophic_regexes_are_refused(pattern: str) -> None:
    with pytest.raises(ListError):
        check_regex(pattern)


@pytest.mark.parametrize(
    "pattern",
    [
        r"cheap\s+pills",
        r"casino|poker",
        r"buy\s{1,3}now\s{1,3}",
        r"\d{4}-\d{4}",
        r"x.*y",
        r"[a-z]{2,8}\.(ru|xyz)",
    ],
)
def test_admitted_regexes_stay_fast_on_hostile_text(pattern: str) -> None:
    rx = check_regex(pattern)
    for text in ("a" * 5000, "x" * 5000, " " * 5000, "cheap " * 900, "ab" * 2500):
        started = time.perf_counter()
        rx.search(text[: lists.REGEX_TEXT_CHARS])
        assert time.perf_counter() - started < 0.1, pattern


# -- matching -----------------------------------------------------------------------------------------


def matched(entries: list[tuple[str, str, str]], **record: str) -> set[str]:
    compiled = Lists.compile(lists.Entry(a, k, lists.normalise(k, v), "") for a, k, v in entries)
    comment = parse_record({"content": HAM, **record})
    return {r.signal for _, r in compiled.match(comment, normalize(comment.content))}


def test_email_domain_ip_keyword_and_regex_entries_match() -> None:
    assert matched([("deny", "email", "bad@example.com")], author_email="BAD@example.com") == {
        "list:deny_email"
    }
    deny_domain = [("deny", "domain", "spam.example")]
    assert matched(deny_domain, author_email="x@mail.spam.example") == {"list:deny_domain"}
    assert matched(deny_domain, author_url="https://www.spam.example/") == {"list:deny_domain"}
    assert matched(deny_domain, content="see <a href='http://a.b.spam.example/x'>here</a>") == {
        "list:deny_domain"
    }
    assert matched(deny_domain, content="see notspam.example now") == set()
    assert matched([("deny", "ip", "198.51.100.0/24")], author_ip="198.51.100.77") == {"list:deny_ip"}
    assert matched([("deny", "ip", "198.51.100.0/24")], author_ip="198.51.101.1") == set()
    assert matched([("allow", "ip", "2001:db8::/32")], author_ip="2001:db8::5") == {"list:allow_ip"}
    assert matched([("deny", "ip", "2001:db8::/32")], author_ip="not an ip") == set()
    assert matched([("deny", "keyword", "Sourdough  WRITE-UP")]) == {"list:deny_keyword"}
    assert matched([("deny", "regex", r"sour\w+")]) == {"list:deny_regex"}
    assert matched([("allow", "email", "a@b.c")]) == set()


@pytest.mark.parametrize("listed", ["bücher.example", "xn--bcher-kva.example"])
def test_a_domain_matches_in_unicode_and_punycode_alike(listed: str) -> None:
    # A browser goes to one host for both spellings: writing it in Unicode must not slip past the list.
    deny = [("deny", "domain", lists.normalise("domain", listed))]
    for spelt in ("bücher.example", "BÜCHER.example", "xn--bcher-kva.example"):
        assert matched(deny, content=f"see http://{spelt}/x now") == {"list:deny_domain"}, spelt
        assert matched(deny, author_url=f"http://www.{spelt}/") == {"list:deny_domain"}, spelt
        assert matched(deny, author_email=f"spammer@{spelt}") == {"list:deny_domain"}, spelt
    email = [("deny", "email", lists.normalise("email", "bob@bücher.example"))]
    assert matched(email, author_email="bob@xn--bcher-kva.example") == {"list:deny_email"}
    assert matched(email, author_email="Bob@Bücher.example") == {"list:deny_email"}


# -- the CLI and /score -------------------------------------------------------------------------------


def test_deny_rejects_and_allow_approves(cli, client, auth) -> None:  # type: ignore[no-untyped-def]
    assert decide(client, auth, id="1", author_ip="198.51.100.9")[0] == "approve"
    cli("lists", "add", "blog", "deny-ip", "198.51.100.0/24")
    decision, signals = decide(client, auth, id="2", author_ip="198.51.100.9")
    assert decision == "reject" and "list:deny_ip" in signals
    cli("lists", "remove", "blog", "deny-ip", "198.51.100.0/24")
    assert decide(client, auth, id="3", author_ip="198.51.100.9")[0] == "approve"

    cli("lists", "add", "blog", "allow-email", "Friend@Example.org")
    decision, signals = decide(client, auth, id="4", content=SPAM, author_email="friend@example.org")
    assert decision == "approve" and "list:allow_email" in signals
    # An allow hit does not beat the honeypot, and a deny hit beats an allow hit.
    assert (
        decide(client, auth, id="5", content=SPAM, author_email="friend@example.org", honeypot="x")[0]
        == "reject"
    )
    cli("lists", "add", "blog", "deny-keyword", "viagra")
    decision, signals = decide(client, auth, id="6", content=SPAM, author_email="friend@example.org")
    assert decision == "reject" and {"list:deny_keyword", "list:allow_email"} <= signals


def test_lists_are_per_site(cli, client, auth) -> None:  # type: ignore[no-untyped-def]
    cli("lists", "add", "other", "deny-keyword", "sourdough")
    assert decide(client, auth, id="1")[0] == "approve"


def test_lists_show_and_errors(cli) -> None:  # type: ignore[no-untyped-def]
    cli("lists", "add", "blog", "deny-domain", "spam.example")
    cli("lists", "add", "blog", "deny-domain", "spam.example")  # twice: one entry
    cli("lists", "add", "blog", "allow-email", "a@b.org")
    shown = cli("lists", "show", "blog").output.splitlines()
    assert [line.split("\t")[:2] for line in shown] == [
        ["deny-domain", "spam.example"],
        ["allow-email", "a@b.org"],
    ]
    assert cli("lists", "show", "blog", "allow-email").output.startswith("allow-email\ta@b.org")
    assert "nested quantifiers" in cli("lists", "add", "blog", "deny-regex", "(a+)+", ok=False).output
    assert "allow-email" in cli("lists", "add", "blog", "block-email", "x@y.z", ok=False).output
    assert "no deny-ip entry" in cli("lists", "remove", "blog", "deny-ip", "192.0.2.1", ok=False).output
    assert "not a site name" in cli("lists", "add", "no site", "deny-ip", "192.0.2.1", ok=False).output


def test_changes_reach_a_worker_after_the_check_interval(cli, client, auth, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(site_policy, "CONFIG_CHECK_S", 3600.0)
    assert decide(client, auth, id="1")[0] == "approve"  # the worker has read (and cached) the lists
    cli("lists", "add", "blog", "deny-keyword", "sourdough")
    assert decide(client, auth, id="2")[0] == "approve"  # cached
    monkeypatch.setattr(site_policy, "CONFIG_CHECK_S", 0.0)
    assert decide(client, auth, id="3")[0] == "reject"  # the version changed: re-read, no restart
