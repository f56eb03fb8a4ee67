"""`kill -9` of a real `spamguard train` process while it writes its version: CURRENT never names a
half-written model (tests/test_fit.py covers the same in process, with exceptions)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import demo_records

from spamguard import registry
from spamguard.model import load_model


@pytest.mark.slow
def test_kill_9_train_mid_write_leaves_a_good_current(registry_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in demo_records(400)))
    before = registry.current_version(registry_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPAMGUARD_")}
    env["SPAMGUARD_HOME"] = str(tmp_path / "var")
    versions = registry_dir / registry.VERSIONS
    outcomes = []
    for attempt in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-c", "from spamguard.cli import main; main()", "train", str(data),
             "--out", str(registry_dir), "--no-store"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        # Kill the moment a staging directory appears (the artifact is being written), later each time.
        deadline = time.monotonic() + 120
        seen = False
        while proc.poll() is None and time.monotonic() < deadline:
            if any(p.name.startswith(".staging-") for p in versions.iterdir()):
                seen = True
                time.sleep(attempt * 0.05)
                break
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        outcomes.append("killed mid-write" if seen and proc.returncode == -signal.SIGKILL else "other")
        current = registry.current_version(registry_dir)
        assert current is not None and not current.startswith(".")
        model = load_model(registry_dir)  # verifies the sha256: a complete, intact version
        assert model.version == current
        if current != before:
            registry.verify(versions / current)
    assert "killed mid-write" in outcomes, outcomes
    for leftover in versions.iterdir():
        if leftover.name.startswith(".staging-"):  # a kill leaves its staging directory, never current
            assert leftover.name != registry.current_version(registry_dir)
