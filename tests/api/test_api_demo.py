"""`tre demo`: the narrated walkthrough works and leaves nothing behind, even on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest
import typer
from api_support import REPO
from typer.testing import CliRunner

from trusted_env.cli import demo

pytestmark = pytest.mark.slow

STEPS = ("1. Operator", "2. Operator", "3. Researcher", "4. Steward", "5. Worker", "7. Policy")


def _leftovers(folder: Path) -> list[Path]:
    return sorted(folder.glob("tre-demo-*"))


def _port_is_closed(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1.0)
    except httpx.ConnectError:
        return True
    return False


def test_the_demo_walks_one_job_to_the_policy_reader_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    app = typer.Typer()
    demo.register(app)
    app.command("unused")(lambda: None)  # a group, so that `demo` is a subcommand
    result = CliRunner().invoke(app, ["demo"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, (result.output, result.exception)
    for step in STEPS:
        assert step in result.output
    assert "approved by sam" in result.output
    assert "diabetes_prevalence_by_region" in result.output and "95% CI" in result.output
    assert re.search(r"Downloads: CSV [\d,]+ bytes \(85 cells\), Parquet", result.output)
    assert "intact" in result.output
    port = int(re.findall(r"http://127\.0\.0\.1:(\d+)", result.output)[0])
    assert _leftovers(tmp_path) == []
    assert _port_is_closed(port)
    assert _children_of_the_demo(tmp_path) == []


def _children_of_the_demo(folder: Path) -> list[int]:
    """Processes whose TRE_DATA_DIR is inside `folder` (the demo's server and worker)."""
    marker = f"TRE_DATA_DIR={folder}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes():
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


def test_ctrl_c_stops_the_server_and_worker_and_removes_the_directory(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path), "COLUMNS": "160", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "trusted_env.cli.app", "demo"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    output = []
    try:
        for line in process.stdout:
            output.append(line)
            if line.startswith("3. Researcher"):
                break
        port = int(re.findall(r"http://127\.0\.0\.1:(\d+)", "".join(output))[0])
        assert _leftovers(tmp_path), "the demo directory should exist while it runs"
        assert len(_children_of_the_demo(tmp_path)) == 2, "server and worker should run"
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, "".join(output) + rest
    assert "Interrupted" in rest
    assert _leftovers(tmp_path) == []
    assert _port_is_closed(port)
    assert _children_of_the_demo(tmp_path) == []
