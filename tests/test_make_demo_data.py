"""Tests for scripts/make_demo_data.py and the data/demo.jsonl it wrote."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path

import pytest

from spamguard.comment import TEXT_FIELDS
from training.loaders import load_file

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo.jsonl"


@pytest.fixture(scope="module")
def generator():
    spec = importlib.util.spec_from_file_location("make_demo_data", ROOT / "scripts" / "make_demo_data.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_demo_data"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    yield module
    del sys.modules["make_demo_data"]


def test_committed_file_is_what_the_generator_writes(generator, tmp_path, monkeypatch, capsys):
    out = tmp_path / "demo.jsonl"
    monkeypatch.setattr(sys, "argv", ["make_demo_data.py", "--out", str(out)])
    generator.main()
    assert "wrote 2000 comments (800 spam, 1200 ham)" in capsys.readouterr().out
    assert out.read_bytes() == DEMO.read_bytes(), "run scripts/make_demo_data.py and commit data/demo.jsonl"


def test_demo_corpus_loads_with_every_field():
    comments = load_file(DEMO)
    assert len(comments) == 2000
    assert Counter(c.label for c in comments) == {1: 800, 0: 1200}
    assert [c.id for c in comments] == [f"demo-{n:06d}" for n in range(1, 2001)]
    assert len({c.content for c in comments}) == 2000
    assert {c.site for c in comments} == {"blog.example.org", "forum.example.net", "recipes.example.com"}
    assert {"comment", "reply", "pingback", "trackback"} <= {c.comment_type for c in comments}
    for name in (*TEXT_FIELDS, "time_on_page_ms"):
        assert any(getattr(c, name) is not None for c in comments), name
    assert any(":" in c.author_ip for c in comments) and any("." in c.author_ip for c in comments)


def test_demo_corpus_has_hard_cases():
    records = [json.loads(line) for line in DEMO.read_text(encoding="utf-8").splitlines()]
    ham = [r for r in records if r["label"] == "ham"]
    spam = [r for r in records if r["label"] == "spam"]
    assert sum("http" in r["content"] for r in ham) > 100  # legitimate links
    assert sum("$" in r["content"] for r in ham) > 100  # money talk
    assert sum("http" not in r["content"] and "www." not in r["content"] for r in spam) > 200
    assert any(r.get("honeypot") for r in spam) and not any(r.get("honeypot") for r in ham)
    assert any("\u0430" in r["content"] or "\u043e" in r["content"] for r in spam)  # Cyrillic look-alikes
    ids = {r["id"]: r for r in records}
    for r in records:
        if "parent_id" in r:
            parent = ids[r["parent_id"]]
            assert parent["id"] < r["id"] and parent["post_id"] == r["post_id"]
