"""Tests for spamguard.normalize: the text every model sees, and the links pulled out of it."""

from __future__ import annotations

import time

import pytest

from spamguard.normalize import MAX_LINKS, MAX_RAW_CHARS, MAX_TEXT_CHARS, Link, clean_text, host_of, normalize

# Scoring any comment must stay cheap (the issue asks 10 ms for 64 KiB); this bound is generous
# so that a shared, busy machine does not make the tests flaky, and still catches quadratic work.
SLOW_S = 0.05


def elapsed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


# --- HTML ---------------------------------------------------------------------------------------------


def test_entities_are_decoded():
    assert (
        normalize("Fish &amp; chips &lt;3 &#39;yum&#39; &eacute;t&eacute;").text
        == "Fish & chips <3 'yum' été"
    )


def test_tags_are_removed():
    text = normalize("<p>Hello<br/>there</p><!-- hidden --><b>bold</b> <script>x</script>").text
    assert text == "Hello there bold x"


def test_anchor_keeps_href_and_anchor_text():
    t = normalize('See <a href="http://shop.example.com/?a=1&amp;b=2" rel="nofollow">great <b>deals</b></a>!')
    assert t.text == "See great deals !"
    assert t.links == (Link("http://shop.example.com/?a=1&b=2", "shop.example.com", "great deals"),)
    assert t.html_links == 1


def test_anchor_without_quotes_and_without_text():
    t = normalize("<A HREF=http://x.example.org/p></a> and <a href='https://y.example.net/q'>here</a>")
    assert [(lk.host, lk.anchor) for lk in t.links] == [("x.example.org", None), ("y.example.net", "here")]
    assert t.html_links == 2


def test_text_that_only_looks_like_html_is_text():
    assert normalize("if a < b and c > d").text == "if a < b and c > d"


# --- Unicode ------------------------------------------------------------------------------------------


def test_nfkc_folds_fullwidth_and_styled_letters():
    assert normalize("ｆｒｅｅ ＭＯＮＥＹ 𝐟𝐫𝐞𝐞 ①").text == "free MONEY free 1"


@pytest.mark.parametrize("invisible", ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u202e"])
def test_invisible_characters_are_removed(invisible):
    assert normalize(f"fr{invisible}ee mo{invisible}ney").text == "free money"


def test_youtube_trailing_bom_is_removed():
    # 1,548 of the 1,956 YouTube comments end with U+FEFF, unevenly by class.
    assert normalize("Check out this video\ufeff").text == normalize("Check out this video").text
    assert normalize("\ufeffhi\ufeff").text == "hi"


def test_control_characters_are_removed():
    assert normalize("a\x00b\x07c\x1bd\x7fe\x85f").text == "abcdef"


@pytest.mark.parametrize(
    "disguised, plain",
    [
        ("раураl", "paypal"),  # Cyrillic а, р, у in a Latin word
        ("vіagra", "viagra"),  # Cyrillic і
        ("СНЕАР", "CHEAP"),  # all look-alikes, could be Latin
        ("ΡΑΥΡΑL", "PAYPAL"),  # Greek capitals and a Latin L
        ("frее mоnеy", "free money"),
    ],
)
def test_homoglyphs_in_latin_looking_words_are_folded(disguised, plain):
    assert normalize(disguised).text == plain


@pytest.mark.parametrize(
    "genuine",
    [
        "Это хорошая статья, спасибо за примеры",
        "Ευχαριστώ πολύ για το άρθρο",
        "Привет всем! Отличный пост.",
    ],
)
def test_genuine_cyrillic_and_greek_words_are_left_alone(genuine):
    text = normalize(genuine).text
    for word in ("хорошая", "статья", "спасибо", "Ευχαριστώ", "πολύ", "άρθρο", "Привет", "Отличный"):
        if word in genuine:
            assert word in text


@pytest.mark.parametrize(
    "genuine", ["Ο καιρός είναι καλός και το φαγητό νόστιμο", "Я купил сахар и кофе", "Он ехал с отцом"]
)
def test_genuine_text_keeps_its_short_words(genuine):
    assert normalize(genuine).text == genuine


def test_whitespace_is_collapsed():
    assert normalize("  a \n\n\t b\u00a0\u2003c\r\n").text == "a b c"


def test_clean_text_is_idempotent():
    once = clean_text(" ｆ\u200bree  раураl &amp; ")
    assert clean_text(once) == once


# --- bounds -------------------------------------------------------------------------------------------


def test_length_is_bounded():
    huge = "word " * 300_000
    t = normalize(huge)
    assert len(t.text) <= MAX_TEXT_CHARS
    assert t.raw_length == len(huge)
    assert elapsed(normalize, huge) < SLOW_S


def test_markup_beyond_the_raw_bound_is_not_read():
    t = normalize("x" * MAX_RAW_CHARS + '<a href="http://late.example.com">late</a>')
    assert t.links == () and t.html_links == 0


def test_links_are_bounded():
    t = normalize(" ".join(f"http://s{i}.example.com" for i in range(MAX_LINKS * 3)))
    assert len(t.links) == MAX_LINKS


@pytest.mark.parametrize(
    "content",
    [
        "x" * 1_000_000,
        "The quick brown fox. " * 3200,
        "<b>bold</b> " * 6000,
        "http://a.example.com/ " * 3000,
        "😀" * 65536,
        " " * 1_000_000,
    ],
    ids=["one-letter", "english-64k", "tags", "urls", "emoji", "spaces"],
)
def test_large_comments_normalise_quickly(content):
    normalize(content)  # warm the regex caches
    normalize.cache_clear()  # but time the work, not a cache hit
    assert elapsed(normalize, content) < SLOW_S


@pytest.mark.parametrize(
    "content",
    ["这是一个非常好的文章谢谢分享" * 600, "ありがとうございます" * 800, "e\u0301" * 5000],
    ids=["chinese-8k", "japanese-8k", "combining-10k"],
)
def test_long_words_without_spaces_normalise_quickly(content):
    # CJK text has no spaces: look-alike folding must not rescan a word from each of its letters.
    assert elapsed(normalize, content) < SLOW_S


@pytest.mark.parametrize(
    "content",
    ["<a href=" * 1000, "<a " * 10000, "<a href=http://x.com>" * 3000, "<!--" * 10000],
    ids=["href", "a", "unclosed-anchor", "comment"],
)
def test_unclosed_markup_normalises_quickly(content):
    assert elapsed(normalize, content) < SLOW_S


# --- links --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, hosts",
    [
        ("visit cheap-pills.xyz today", ["cheap-pills.xyz"]),
        ("go to www.Example.com/page.", ["www.example.com"]),
        ("https://bit.ly/abc, then http://198.51.100.7/x", ["bit.ly", "198.51.100.7"]),
        ("(see http://a.example.org/path)", ["a.example.org"]),
        ("mail me at shop.example.co.uk!", ["shop.example.co.uk"]),
        ("e.g. file.txt and node.js or 3.14", []),
        ("no links here", []),
    ],
)
def test_links_are_found(content, hosts):
    assert [lk.host for lk in normalize(content).links] == hosts


def test_trailing_punctuation_is_not_part_of_a_link():
    assert [lk.url for lk in normalize("Look: http://x.example.com/a?b=1).").links] == [
        "http://x.example.com/a?b=1"
    ]


def test_a_link_shown_in_html_and_text_is_counted_once():
    t = normalize('<a href="http://x.example.com">http://x.example.com</a>')
    assert [lk.url for lk in t.links] == ["http://x.example.com"]


@pytest.mark.parametrize(
    "content",
    [
        '<a href="http://www.example.com">www.example.com</a>',  # WordPress make_clickable output
        '<a href="https://example.com/">https://example.com</a>',
        '<a href="https://example.com">example.com</a>',
    ],
)
def test_an_anchor_showing_its_own_address_is_one_link(content):
    assert len(normalize(content).links) == 1


def test_homoglyph_domain_is_folded_before_detection():
    assert [lk.host for lk in normalize("раураl.com/login").links] == ["paypal.com"]


def test_ip_and_host_helpers():
    assert Link("http://198.51.100.7/", "198.51.100.7").is_ip
    assert Link("http://[2001:db8::1]/", "[2001:db8::1]").is_ip
    assert not Link("http://x.com", "x.com").is_ip
    assert host_of("WWW.Example.COM./x") == "www.example.com"
    assert host_of("https://user@x.example.org:8080/p") == "x.example.org"
    assert host_of("http://[::1") is None


@pytest.mark.parametrize("url, host", [
    ("http://%62it.ly/x", "bit.ly"),                        # an escaped letter, as browsers decode it
    ("%62IT.LY/x", "bit.ly"),                               # no scheme, upper case
    ("http://%EF%BD%82it.ly/", "bit.ly"),                   # an escaped full-width letter, folded
    ("http://%31%39%38.51.100.7/", "198.51.100.7"),         # an escaped IP literal is still one
    ("http://%2Fevil.com/", None),                          # "/" cannot be in a host
    ("http://ex%25ample.com/", None),                       # nor "%": escapes decode once
    ("http://%ff.com/", None),                              # not UTF-8
])  # fmt: skip
def test_a_host_with_percent_escapes_reads_as_a_browser_reads_it(url, host):
    assert host_of(url) == host
    if url.startswith("http://"):  # in text, a link is found by its scheme
        links = normalize(f"see {url} now").links
        assert [lk.host for lk in links] == ([host] if host else [])


def test_the_same_content_is_normalised_once():
    # /score normalises for the model and again for the history rules: the second is a cache hit.
    normalize.cache_clear()
    first = normalize("Visit http://bit.ly/x now")
    assert normalize("Visit http://bit.ly/x now") is first
    assert normalize.cache_info().hits == 1
