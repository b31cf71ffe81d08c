"""``make lab``: JupyterLab serves the notebooks with the project's kernel, as root too.

A real JupyterLab server is started through the Makefile (as the user would), on a free port;
the test reads the URL it prints, and asks the server's REST API for the notebooks and the
kernel spec. Root is what these machines and containers run as, where Jupyter refuses to start
without ``--allow-root``; the target adds it by itself.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("jupyterlab", reason="JupyterLab (the 'lab' extra) is not installed: pip install -e '.[lab]'")
if shutil.which("make") is None:
    pytest.skip("make is not installed", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read().decode("utf-8"))


def test_make_lab_prints_the_url_and_serves_the_notebooks_with_the_projects_kernel():
    port = _free_port()
    venv = Path(sys.prefix)
    proc = subprocess.Popen(
        ["make", "-s", "lab", f"LAB_PORT={port}", f"VENV={venv}"], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    try:
        url = None
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            found = re.search(rf"open (http://127\.0\.0\.1:{port}/lab/tree/notebooks\?token=(\w+))", line)
            if found:
                url, token = found.group(1), found.group(2)
        assert url, "make lab printed no URL:\n" + "".join(lines)
        api = f"http://127.0.0.1:{port}/api"
        contents = None
        while time.monotonic() < deadline:
            try:
                contents = _get(f"{api}/contents/notebooks?token={token}")
                break
            except OSError:
                assert proc.poll() is None, "JupyterLab stopped:\n" + "".join(lines) + proc.stdout.read()
                time.sleep(0.5)
        assert contents, "JupyterLab did not answer"
        names = {item["name"] for item in contents["content"]}
        assert {"sync.ipynb", "health_check.ipynb", "back_propagate.ipynb"} <= names
        specs = _get(f"{api}/kernelspecs?token={token}")
        spec = specs["kernelspecs"][specs["default"]]["spec"]
        assert Path(spec["argv"][0]).resolve() == Path(sys.executable).resolve(), spec
        # named as the notebooks' metadata names it (ipykernel's name): they open unmodified
        assert spec["display_name"] == "Python 3 (ipykernel)" and spec["language"] == "python", spec
        # the page itself is served (not only the API)
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200 and b"JupyterLab" in response.read()
        # a wrong token is refused: the URL's token is what opens it
        with pytest.raises(urllib.error.HTTPError):
            _get(f"{api}/contents/notebooks?token=wrong")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
