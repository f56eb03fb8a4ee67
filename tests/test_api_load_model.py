"""Tests for `spamguard.load_model`, the public Python API (contract section 4).

One comment scored alone against the batch path (to 1e-9) is tests/test_model.py's `assert_parity`;
the registry's own error texts are tests/test_registry.py's. These check the API a caller imports.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import train_version

import spamguard
from spamguard import ModelError, registry

SPAM = {"content": "Buy cheap viagra online now at http://bit.ly/x9z best price!!!", "id": "s1"}
HAM = {"content": "Thanks for the sourdough write-up, it helped me fix my setup.", "author_name": "Ann"}


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A registry with two differently fitted versions, the older one current (do not modify)."""
    root = tmp_path_factory.mktemp("two-versions")
    current = train_version(root, seed=0)
    newer = train_version(root, seed=1, promote=False)
    assert current != newer
    return root, current, newer


def current_of(root: Path) -> str:
    return (root / registry.CURRENT).read_text(encoding="utf-8").strip()


def test_the_package_exports_load_model():
    assert "load_model" in spamguard.__all__
    assert spamguard.load_model is spamguard.model.load_model


@pytest.mark.parametrize("as_str", [False, True])
def test_a_registry_loads_its_current_version_not_its_newest(two_versions, as_str):
    root, current, newer = two_versions
    model = spamguard.load_model(str(root) if as_str else root)
    assert model.version == current == current_of(root)
    assert model.version_dir == root / registry.VERSIONS / current
    assert model.score(SPAM).model_version == current


def test_a_version_dir_loads_that_version_whatever_is_current(two_versions):
    root, current, newer = two_versions
    model = spamguard.load_model(root / registry.VERSIONS / newer)
    assert model.version == newer and model.score(HAM).model_version == newer
    assert current_of(root) == current


def test_promoting_changes_what_the_registry_loads(two_versions, tmp_path):
    root = tmp_path / "models"
    shutil.copytree(two_versions[0], root)
    _, current, newer = two_versions
    before = spamguard.load_model(root)
    registry.promote(root, newer)
    after = spamguard.load_model(root)
    assert (before.version, after.version) == (current, newer) and after.version == current_of(root)
    # A different fit, not the same model under another name.
    assert before.score(SPAM).score != after.score(SPAM).score


def test_the_default_is_models_in_the_working_directory(trained_registry, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError, match=r"^no model registry at models: run `spamguard train data/` first$"):
        spamguard.load_model()
    shutil.copytree(trained_registry, tmp_path / "models")
    assert spamguard.load_model().version == current_of(trained_registry)


def test_score_answers_the_contract(trained_registry):
    model = spamguard.load_model(trained_registry)
    for record in (SPAM, HAM, {"content": ""}):
        v = model.score(record)
        assert v.decision in ("approve", "hold", "reject")
        assert isinstance(v.score, float) and 0.0 <= v.score <= 1.0
        assert isinstance(v.reasons, list) and v.model_version == current_of(trained_registry)
    assert model.score(SPAM).id == "s1"
    assert model.score(SPAM).score > model.score(HAM).score


def test_missing_registry(tmp_path):
    missing = tmp_path / "nowhere" / "models"
    with pytest.raises(ModelError) as info:
        spamguard.load_model(missing)
    message = str(info.value)
    assert str(missing) in message and "spamguard train" in message


def test_registry_without_a_current_version(tmp_path, trained_registry):
    root = tmp_path / "models"
    shutil.copytree(trained_registry, root)
    (root / registry.CURRENT).unlink()
    with pytest.raises(ModelError, match=r"has no current model: run `spamguard train"):
        spamguard.load_model(root)


def test_current_naming_a_removed_version(tmp_path, trained_registry):
    root = tmp_path / "models"
    shutil.copytree(trained_registry, root)
    shutil.rmtree(root / registry.VERSIONS / current_of(root))
    with pytest.raises(ModelError, match=rf"names '{current_of(root)}', which is not in"):
        spamguard.load_model(root)


def test_a_data_file_is_not_a_model(tmp_path):
    path = tmp_path / "comments.jsonl"
    path.write_text('{"content": "hi"}\n', encoding="utf-8")
    with pytest.raises(ModelError, match=r"comments\.jsonl is a file, not a model: give the registry"):
        spamguard.load_model(path)


def test_model_error_is_part_of_the_package_api():
    """A caller catches the error load_model raises without reaching into a submodule."""
    assert "ModelError" in spamguard.__all__ and spamguard.ModelError is registry.ModelError
