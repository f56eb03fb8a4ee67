"""Tests for spamguard.registry: atomic writes, promote and roll back, verification at load."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from spamguard import registry
from spamguard.model import load_model
from spamguard.registry import ModelError


def add_version(root: Path, name: str) -> str:
    """Copy the current version under another name (same artifact, so still verifiable)."""
    source = registry.resolve(root)
    target = root / registry.VERSIONS / name
    shutil.copytree(source, target)
    manifest = json.loads((target / registry.MANIFEST).read_text())
    manifest["version"] = name
    manifest["created"] = "2999-01-01T00:00:00+00:00"
    (target / registry.MANIFEST).write_text(json.dumps(manifest))
    return name


def current(root: Path) -> str | None:
    return registry.current_version(root)


# --- atomic writes ------------------------------------------------------------------------------------


def test_write_atomic_replaces_the_whole_file(tmp_path):
    target = tmp_path / "CURRENT"
    registry.write_atomic(target, b"old\n")
    registry.write_atomic(target, b"new\n")
    assert target.read_bytes() == b"new\n"
    assert os.listdir(tmp_path) == ["CURRENT"]


def test_write_atomic_failure_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "CURRENT"
    target.write_bytes(b"old\n")

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(registry.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        registry.write_atomic(target, b"new\n")
    assert target.read_bytes() == b"old\n"
    assert os.listdir(tmp_path) == ["CURRENT"]


# --- resolve, promote, roll back ----------------------------------------------------------------------


def test_resolve_registry_and_version_dir(registry_dir):
    version_dir = registry.resolve(registry_dir)
    assert version_dir == registry_dir / registry.VERSIONS / current(registry_dir)
    assert registry.resolve(version_dir) == version_dir
    assert registry.resolve(str(registry_dir)) == version_dir


def test_resolve_errors_say_what_to_do(tmp_path):
    with pytest.raises(ModelError, match=r"no model registry at .*spamguard train"):
        registry.resolve(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=r"has no current model: run `spamguard train"):
        registry.resolve(tmp_path / "empty")
    (tmp_path / "empty" / registry.CURRENT).write_text("gone\n")
    with pytest.raises(ModelError, match="names 'gone', which is not in"):
        registry.resolve(tmp_path / "empty")


def test_promote_and_history(registry_dir):
    first = current(registry_dir)
    second = add_version(registry_dir, "v2")
    registry.promote(registry_dir, second)
    assert current(registry_dir) == "v2"
    assert (registry_dir / registry.CURRENT).read_text() == "v2\n"
    history = (registry_dir / registry.HISTORY).read_text().splitlines()
    assert [line.split()[1] for line in history] == [first, "v2"]
    assert load_model(registry_dir).version == "v2"


def test_rollback_goes_back_and_forth(registry_dir):
    first = current(registry_dir)
    add_version(registry_dir, "v2")
    add_version(registry_dir, "v3")
    registry.promote(registry_dir, "v2")
    registry.promote(registry_dir, "v3")
    assert registry.rollback(registry_dir) == "v2"
    assert current(registry_dir) == "v2"
    assert registry.rollback(registry_dir) == "v3"  # the previous one is now v3
    shutil.rmtree(registry_dir / registry.VERSIONS / "v2")
    assert registry.rollback(registry_dir) == first  # a deleted version is skipped


def test_rollback_without_an_earlier_version(registry_dir):
    before = current(registry_dir)
    with pytest.raises(ModelError, match="no earlier version to roll back to"):
        registry.rollback(registry_dir)
    assert current(registry_dir) == before
    (registry_dir / registry.HISTORY).unlink()
    with pytest.raises(ModelError, match="no earlier version"):
        registry.rollback(registry_dir)


@pytest.mark.parametrize(
    "name", ["../versions/x", "../../etc", "a/b", "", ".hidden", "x" * 200, "v1\n", "v 1", "/abs", "nope"]
)
def test_version_names_are_validated(registry_dir, name):
    before = (registry_dir / registry.CURRENT).read_bytes()
    with pytest.raises(ModelError, match="see `spamguard models list`"):
        registry.version_dir(registry_dir, name)
    with pytest.raises(ModelError):
        registry.promote(registry_dir, name)
    assert (registry_dir / registry.CURRENT).read_bytes() == before


def test_a_version_dir_outside_the_registry_is_not_reachable(registry_dir, tmp_path):
    outside = tmp_path / "outside"
    shutil.copytree(registry.resolve(registry_dir), outside)
    with pytest.raises(ModelError):
        registry.version_dir(registry_dir, "../../outside")


def test_list_versions(registry_dir):
    add_version(registry_dir, "v2")
    (registry_dir / registry.VERSIONS / "broken").mkdir()
    (registry_dir / registry.VERSIONS / "broken" / registry.MANIFEST).write_text("{not json")
    (registry_dir / registry.VERSIONS / ".staging-x").mkdir()
    versions = [m["version"] for m in registry.list_versions(registry_dir)]
    assert versions == [current(registry_dir), "v2"]  # oldest first, unreadable ones left out
    assert registry.list_versions(registry_dir / "nothing") == []


def test_new_version_names_are_valid_and_distinct():
    a, b = registry.new_version_name("a" * 64), registry.new_version_name("b" * 64)
    assert a != b and a.endswith("-aaaaaa")
    assert registry._VERSION_NAME.match(a)


# --- verification -------------------------------------------------------------------------------------


def test_verify_accepts_an_intact_version(registry_dir):
    manifest = registry.verify(registry.resolve(registry_dir))
    assert manifest["version"] == current(registry_dir)


def test_verify_refuses_a_flipped_byte(registry_dir):
    artifact = registry.resolve(registry_dir) / registry.ARTIFACT
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0x01
    artifact.write_bytes(bytes(data))
    with pytest.raises(
        ModelError, match=r"does not match its manifest .*altered or truncated; retrain or roll back"
    ):
        load_model(registry_dir)


def test_verify_refuses_a_truncated_artifact(registry_dir):
    artifact = registry.resolve(registry_dir) / registry.ARTIFACT
    data = artifact.read_bytes()
    artifact.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="altered or truncated"):
        load_model(registry_dir)


def test_verify_refuses_another_scikit_learn(registry_dir):
    version_dir = registry.resolve(registry_dir)
    manifest = json.loads((version_dir / registry.MANIFEST).read_text())
    manifest["libraries"]["scikit-learn"] = "0.24.2"
    (version_dir / registry.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(
        ModelError, match=r"trained with scikit-learn 0\.24\.2, this is .*install scikit-learn==0\.24\.2"
    ):
        load_model(registry_dir)


def test_verify_refuses_a_manifest_without_versions(registry_dir):
    version_dir = registry.resolve(registry_dir)
    manifest = json.loads((version_dir / registry.MANIFEST).read_text())
    del manifest["libraries"]
    (version_dir / registry.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="does not say which libraries trained it"):
        load_model(registry_dir)


@pytest.mark.parametrize(
    "manifest, message",
    [("{broken", "cannot read"), ("[1, 2]", "is not a JSON object"), ("", "cannot read")],
)
def test_verify_refuses_an_unreadable_manifest(registry_dir, manifest, message):
    version_dir = registry.resolve(registry_dir)
    (version_dir / registry.MANIFEST).write_text(manifest)
    with pytest.raises(ModelError, match=message):
        load_model(version_dir)


def test_verify_refuses_a_missing_artifact(registry_dir):
    (registry.resolve(registry_dir) / registry.ARTIFACT).unlink()
    with pytest.raises(ModelError, match="is missing: retrain or roll back"):
        load_model(registry_dir)


def test_sha256_file(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert registry.sha256_file(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize("pointer", [b"../../outside\n", b"/tmp/outside\n", b"versions/../../outside\n"])
def test_current_never_leads_out_of_the_registry(registry_dir, pointer):
    """A CURRENT naming a path, even to a valid version elsewhere, is refused: models load only from
    the configured registry. Rollback mends it."""
    good = registry.resolve(registry_dir)
    outside = registry_dir.parent / "outside"
    shutil.copytree(good, outside)
    registry.write_atomic(registry_dir / registry.CURRENT, pointer)
    with pytest.raises(ModelError, match="which is not a version name: make a version current with"):
        registry.resolve(registry_dir)
    with pytest.raises(ModelError, match="not a version name"):
        load_model(registry_dir)
    with open(registry_dir / registry.HISTORY, "a") as fh:  # an earlier entry that escapes is skipped too
        fh.write(f"2020-01-01T00:00:00+00:00 {pointer.decode().strip()}\n")
    assert registry.rollback(registry_dir) == good.name
    assert registry.resolve(registry_dir) == good
