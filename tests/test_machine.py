"""What ``auto`` resolves to on this machine: asked of torch at most once per boot."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ferablate._machine as machine

_ASK = (
    "import sys, ferablate._machine as m\n"
    "m._gpu_device_nodes = lambda: True  # as on a GPU machine: torch must be asked\n"
    "print(m.resolved_precision('auto', m.resolved_device('auto')), 'torch' in sys.modules)\n"
)


def test_a_gpu_machine_asks_torch_once_per_boot(tmp_path: Path) -> None:
    if not machine._boot_id():
        pytest.skip("no /proc/sys/kernel/random/boot_id here")
    env = {"FERABLATE_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    first, second = (
        subprocess.run(
            [sys.executable, "-c", _ASK], capture_output=True, text=True, env=env, check=True
        ).stdout.split()
        for _ in range(2)
    )
    assert first[1] == "True" and second == [first[0], "False"]  # same answer, no torch


def test_explicit_precision_wins_and_auto_follows_the_cpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(machine, "_gpu_device_nodes", lambda: False)
    assert machine.resolved_device("auto") == "cpu"
    assert machine.resolved_precision("auto", "cpu", cpu_bf16=True) == "bf16"
    assert machine.resolved_precision("auto", "cpu", cpu_bf16=False) == "fp32"
    assert machine.resolved_precision("bf16", "cpu", cpu_bf16=False) == "bf16"
    assert machine.resolved_precision("fp32", "cuda") == "fp32"


def test_process_alive_of_a_process_and_of_a_process_group() -> None:
    assert machine.process_alive(os.getpid())
    assert machine.process_alive(os.getpgid(0), group=True)
    assert not machine.process_alive(0) and not machine.process_alive(-1, group=True)
    child = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    deadline = time.monotonic() + 10
    while machine.process_alive(child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not machine.process_alive(child.pid)  # a zombie until reaped: not alive
    child.wait()
    assert not machine.process_alive(child.pid) and not machine.process_alive(child.pid, group=True)
