"""Policy per site and comment type: thresholds, the trusted-commenter rule, shadow mode; the CLI."""

from __future__ import annotations

import json

import pytest

from spamguard import moderation_store, site_policy
from spamguard.site_policy import SitePolicy, set_policy

HAM = "Thanks for the sourdough write-up, it helped me fix my setup."
SPAM = "Buy cheap viagra online now at http://bit.ly/x9z best price!!!"


@pytest.fixture(autouse=True)
def _fresh_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(site_policy, "CONFIG_CHECK_S", 0.0)


def post(client, auth, **record):  # type: ignore[no-untyped-def]
    response = client.post("/score", json={"content": HAM, **record}, headers=auth)
    assert response.status_code == 200
    return response.get_json()


def test_thresholds_override_per_site(client, auth, store) -> None:  # type: ignore[no-untyped-def]
    body = post(client, auth, id="1")
    assert body["decision"] == "approve"
    set_policy(store, "blog", approve_below=0.0, reject_at=2.0)  # nothing approves or rejects by score
    assert post(client, auth, id="2")["decision"] == "hold"
    assert post(client, auth, id="3", content=SPAM)["decision"] == "hold"
    set_policy(store, "blog", approve_below=0.0, reject_at=0.0)  # everything rejects by score
    assert post(client, auth, id="4")["decision"] == "reject"
    stored = store.get_comment("blog", "4")
    assert stored.thresholds == {"approve_below": 0.0, "reject_at": 0.0}


def test_policy_per_comment_type(client, auth, store) -> None:  # type: ignore[no-untyped-def]
    set_policy(store, "blog", "trackback", approve_below=0.0, reject_at=0.0)
    assert post(client, auth, id="1")["decision"] == "approve"
    assert post(client, auth, id="2", comment_type="trackback")["decision"] == "reject"
    policies = site_policy.policies(store, "blog")
    assert policies["trackback"].reject_at == 0.0 and "" not in policies


def test_a_type_policy_inherits_the_site_policy(store) -> None:  # type: ignore[no-untyped-def]
    set_policy(store, "blog", mode="shadow", trusted=False)
    set_policy(store, "blog", "signup", reject_at=0.9)
    signup = site_policy.policies(store, "blog")["signup"]
    assert signup == SitePolicy(mode="shadow", reject_at=0.9, trusted=False)


@pytest.mark.parametrize(
    "changes",
    [{"mode": "loud"}, {"approve_below": 1.5}, {"approve_below": 0.6, "reject_at": 0.5}, {"trusted_min": 0},
     {"trusted_min": 501}, {"trusted_min": 10**20}, {"colour": "red"}],
)  # fmt: skip
def test_bad_policies_are_refused(store, changes) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        set_policy(store, "blog", **changes)


def test_trusted_rule_can_be_switched_off(client, auth, store) -> None:  # type: ignore[no-untyped-def]
    who = {"author_email": "regular@example.org"}
    for i in range(3):
        post(client, auth, id=f"c{i}", content=f"{HAM} {i}", **who)
    assert post(client, auth, id="t1", content=SPAM, **who)["decision"] == "approve"
    set_policy(store, "blog", trusted=False)
    body = post(client, auth, id="t2", content=SPAM, **who)
    assert body["decision"] != "approve" and "reputation:trusted" not in {
        r["signal"] for r in body["reasons"]
    }
    set_policy(store, "blog", trusted=True, trusted_min=10)
    assert post(client, auth, id="t3", content=SPAM, **who)["decision"] != "approve"


def test_shadow_mode_answers_approve_and_records_the_decision(client, auth, store) -> None:  # type: ignore[no-untyped-def]
    set_policy(store, "blog", mode="shadow", approve_below=0.0, reject_at=2.0)
    body = post(client, auth, id="s1", content=SPAM)
    assert body["decision"] == "approve" and body["shadow_decision"] == "hold"
    honeypot = post(client, auth, id="s2", honeypot="x")
    assert honeypot["decision"] == "approve" and honeypot["shadow_decision"] == "reject"
    # Stored as answered, nothing in the queue; the would-be decision is kept as a reason and in the history.
    stored = store.get_comment("blog", "s1")
    assert stored.decision == "approve" and stored.status == "approved"
    assert any(r["signal"] == "policy:shadow" and r["detail"].endswith("hold") for r in stored.reasons)
    assert moderation_store.held_count(store) == 0
    rows = store.execute("SELECT comment_id, decision FROM history ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [("s1", "hold"), ("s2", "sender_rejected")]
    # Posting the same id again answers the stored decision, shadow_decision included.
    again = post(client, auth, id="s1", content=SPAM)
    assert again["decision"] == "approve" and again["shadow_decision"] == "hold"
    # Back to enforce: the same kind of comment is held.
    set_policy(store, "blog", mode="enforce")
    body = post(client, auth, id="s3", content=SPAM)
    assert body["decision"] == "hold" and "shadow_decision" not in body


def test_shadow_decisions_feed_reputation(client, auth, store) -> None:  # type: ignore[no-untyped-def]
    set_policy(store, "blog", mode="shadow")
    who = {"author_ip": "192.0.2.44"}
    for i in range(2):
        post(client, auth, id=f"c{i}", content=f"{HAM} {i}", honeypot="x", **who)
    body = post(client, auth, id="c9", **who)
    assert body["decision"] == "approve" and body["shadow_decision"] == "hold"
    assert "reputation:spam_ip" in {r["signal"] for r in body["reasons"]}


def test_sites_policy_cli(cli, client, auth) -> None:  # type: ignore[no-untyped-def]
    shown = json.loads(cli("sites", "policy", "blog").output)
    assert shown == {"site": "blog", "comment_type": "*", **SitePolicy().to_dict()}
    out = cli("sites", "policy", "blog", "--mode", "shadow", "--approve-below", "0", "--reject-at", "2",
              "--trusted", "off").output  # fmt: skip
    expected = {"mode": "shadow", "approve_below": 0.0, "reject_at": 2.0, "trusted": False, "trusted_min": 3,
                "velocity": SitePolicy().to_dict()["velocity"]}  # fmt: skip
    assert json.loads(out) == {"site": "blog", "comment_type": "*", **expected}
    body = post(client, auth, id="1", content=SPAM)
    assert body["decision"] == "approve" and body["shadow_decision"] == "hold"
    typed = json.loads(cli("sites", "policy", "blog", "--type", "reply", "--mode", "enforce").output)
    assert typed["comment_type"] == "reply" and typed["mode"] == "enforce" and typed["reject_at"] == 2.0
    assert post(client, auth, id="2", content=SPAM, comment_type="reply")["decision"] == "hold"
    assert "reject-at" in cli("sites", "policy", "blog", "--approve-below", "0.9", "--reject-at", "0.1",
                              ok=False).output  # fmt: skip
    assert "not a site name" in cli("sites", "policy", "a b", "--mode", "shadow", ok=False).output


# -- velocity limits per site ---------------------------------------------------------------------------


def test_default_velocity_limits_are_shown() -> None:
    limits = SitePolicy().to_dict()["velocity"]
    assert limits["ip"] == {"1m": 5, "1h": 30, "1d": 100} == limits["email"] == limits["url_domain"]
    assert limits["link_domain"] == {"1m": 10, "1h": 60, "1d": 300}


def test_velocity_limits_per_site_from_the_cli(cli, client, auth) -> None:  # type: ignore[no-untyped-def]
    who = {"author_ip": "203.0.113.9"}
    for i in range(2):
        assert "velocity:ip_1m" not in {r["signal"] for r in post(client, auth, id=f"a{i}", **who)["reasons"]}
    out = json.loads(
        cli("sites", "policy", "blog", "--velocity", "ip=2/30/100", "--velocity", "email=off/off/9").output
    )
    assert out["velocity"]["ip"] == {"1m": 2, "1h": 30, "1d": 100}
    assert out["velocity"]["email"] == {"1m": 0, "1h": 0, "1d": 9} and out["mode"] == "enforce"
    body = post(client, auth, id="a2", **who)
    reason = next(r for r in body["reasons"] if r["signal"] == "velocity:ip_1m")
    assert reason["detail"].startswith("2 earlier comments from this IP") and body["decision"] != "approve"
    # Another site keeps the defaults; `default` brings a kind back to them.
    assert json.loads(cli("sites", "policy", "news").output)["velocity"]["ip"]["1m"] == 5
    out = json.loads(cli("sites", "policy", "blog", "--velocity", "ip=default").output)
    assert out["velocity"]["ip"]["1m"] == 5 and out["velocity"]["email"]["1d"] == 9
    assert "velocity:ip_1m" not in {r["signal"] for r in post(client, auth, id="a3", **who)["reasons"]}


def test_off_means_no_velocity_limit(client, auth, store) -> None:  # type: ignore[no-untyped-def]
    set_policy(store, "blog", velocity={"ip": (0, 0, 0)})
    for i in range(7):
        body = post(client, auth, id=f"b{i}", author_ip="203.0.113.7")
    assert not [r for r in body["reasons"] if r["signal"].startswith("velocity:")]


def test_a_type_overrides_velocity_kind_by_kind(store) -> None:  # type: ignore[no-untyped-def]
    set_policy(store, "blog", velocity={"ip": (1, 2, 3), "email": (4, 5, 6)})
    set_policy(store, "blog", "signup", velocity={"ip": (7, 8, 9)})
    policies = site_policy.policies(store, "blog")
    assert policies["signup"].velocity == {"ip": (7, 8, 9), "email": (4, 5, 6)}
    assert policies[""].velocity_limits()["link_domain"] == (10, 60, 300)


@pytest.mark.parametrize(
    ("option", "message"),
    [("ip=1/2", "write ip=N/N/N"), ("ip=a/b/c", "write ip=N/N/N"), ("phone=1/2/3", "velocity limits are for"),
     ("ip=1/2/501", "at most 500"), ("ip", "write ip=N/N/N")],
)  # fmt: skip
def test_bad_velocity_limits_are_refused(cli, option, message) -> None:  # type: ignore[no-untyped-def]
    assert message in cli("sites", "policy", "blog", "--velocity", option, ok=False).output


def test_a_huge_trusted_min_is_refused_not_a_traceback(cli) -> None:  # type: ignore[no-untyped-def]
    # 10**20 overflowed SQLite's integer inside the CLI.
    result = cli("sites", "policy", "blog", "--trusted-min", str(10**20), ok=False)
    assert "1 to 500 approved comments" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    "velocity", [{"ip": (1, 2)}, {"ip": (1, 2, -1)}, {"fax": (1, 2, 3)}, {"ip": ("1", 2, 3)}]
)
def test_bad_velocity_limits_are_refused_by_set_policy(store, velocity) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="velocity limits"):
        set_policy(store, "blog", velocity=velocity)
