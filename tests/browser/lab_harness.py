"""Start JupyterLab and Voila on 127.0.0.1 for browser tests, and stop them with their kernels.

Facts this follows (see shared BROWSER_TESTING notes): a token and throw-away config, runtime,
settings and workspace folders; news and windowing off; each server in its own session so that
stopping it also ends the kernels it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]


@dataclass
class Server:
    """A running server: its base URL, token, process and log file."""

    base: str
    token: str
    process: subprocess.Popen
    log: Path

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}{path}{sep}token={self.token}" if self.token else f"{self.base}{path}"

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment(home: Path) -> dict[str, str]:
    settings = home / "settings"
    for plugin, values in {
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                        "checkForUpdates": False},
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    }.items():
        target = settings / f"{plugin}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))
    env = dict(os.environ)
    env.update({
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def _wait_ready(server: Server, probe_path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.url(probe_path), timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server not ready after {timeout} s:\n{server.log_tail()}")


def _start(command: list[str], home: Path, token: str, port: int, probe_path: str) -> Server:
    home.mkdir(parents=True, exist_ok=True)
    log = home / "server.log"
    with open(log, "wb") as handle:
        process = subprocess.Popen(command, cwd=REPO, env=_environment(home), stdout=handle,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", token, process, log)
    try:
        _wait_ready(server, probe_path, timeout=120)
    except Exception:
        stop(server)
        raise
    return server


def start_lab(home: Path) -> Server:
    """JupyterLab serving the repository, with the app exposed as ``window.jupyterapp``."""
    port, token = free_port(), "convviz-test-token"
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={REPO}",
        "--allow-root", "--LabApp.news_url=None", "--LabApp.expose_app_in_browser=True",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    return _start(command, home, token, port, "/api/status")


def start_voila(home: Path) -> Server:
    """Voila serving the repository's notebooks (``/voila/render/<path>``)."""
    port = free_port()
    command = [
        sys.executable, "-m", "voila", "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
        "--ServerApp.allow_root=True",
        f"--Voila.root_dir={REPO}", "--show_tracebacks=True",
    ]
    return _start(command, home, "", port, "/voila/static/voila.js")


def stop(server: Server) -> None:
    """SIGTERM the server (it shuts its kernels down), then kill every descendant left.

    Kernels run in sessions of their own, so they are found as descendants before the server
    goes, not by process group.
    """
    process = server.process
    try:
        descendants = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    for child in descendants:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    psutil.wait_procs(descendants, timeout=10)
