"""Start JupyterLab and Voila on 127.0.0.1 for the browser tests, and stop them with their kernels.

Servers are started in sessions of their own and stopped with SIGTERM (they shut their kernels
down), then whatever is left of their descendants and process group is killed. Kernels run in
sessions of their own, so they are found as descendants, not through the process group.
"""


import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 1000}
KERNEL_IDLE = "Python 3 (ipykernel) | Idle"
WIDGET_ERROR = "Error displaying widget"
SERVER_START_TIMEOUT = 120.0
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# --------------------------------------------------------------------------- servers


@dataclass
class Server:
    """A server started by the tests: ``base`` URL, ``token``, process and log file."""

    name: str
    base: str
    token: str
    process: subprocess.Popen
    log: Path
    descendants: dict[int, psutil.Process] = field(default_factory=dict)

    def url(self, path: str = "/") -> str:
        """``base + path`` with ``token=...`` added to the query string."""
        if not path.startswith("/"):
            path = "/" + path
        if not self.token:
            return self.base + path
        separator = "&" if "?" in path else "?"
        return f"{self.base}{path}{separator}token={self.token}"

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's log (stdout and stderr)."""
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-chars:]
        return ""

    def remember_descendants(self) -> None:
        """Record the server's current descendants (kernels), to kill them on teardown."""
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.process.pid).children(recursive=True):
                self.descendants.setdefault(child.pid, child)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_environment(home: Path) -> dict[str, str]:
    """Environment with throw-away Jupyter folders and the JupyterLab settings tests need."""
    settings = home / "settings"
    user_settings = {
        # Otherwise a news toast covers the page.
        "@jupyterlab/apputils-extension/notification": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
        # Otherwise cells scrolled out of view are not rendered.
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
        # Never write outputs back into the repository's notebooks.
        "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    }
    for plugin, values in user_settings.items():
        target = settings / f"{plugin}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))
    folders = {
        "JUPYTER_CONFIG_DIR": home / "config",
        "JUPYTER_DATA_DIR": home / "data",
        "JUPYTER_RUNTIME_DIR": home / "runtime",
        "JUPYTERLAB_WORKSPACES_DIR": home / "workspaces",
        "IPYTHONDIR": home / "ipython",
    }
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update({key: str(value) for key, value in folders.items()})
    env.update(
        {
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "PYTHONUNBUFFERED": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        }
    )
    # Make sure kernels use this venv's Python even if the tests were started without activating it.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _wait_until_ready(server: Server, probe_path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        code = server.process.poll()
        if code is not None:
            raise RuntimeError(
                f"{server.name} exited with code {code} before it was ready; its log:\n"
                f"{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(server.url(probe_path), timeout=5) as response:
                if response.status == 200:
                    return
                last_error = f"HTTP {response.status}"
        except urllib.error.HTTPError as error:
            last_error = f"HTTP {error.code}"
        except OSError as error:
            last_error = repr(error)
        time.sleep(0.25)
    raise RuntimeError(
        f"{server.name} did not answer 200 on {probe_path} within {timeout:.0f} s "
        f"(last: {last_error}); its log:\n{server.log_tail()}"
    )


def start_server(
    name: str, command: list[str], home: Path, port: int, token: str, probe_path: str
) -> Server:
    """Start ``command`` in its own session (log in ``home/server.log``) and wait for it."""
    home.mkdir(parents=True, exist_ok=True)
    log = home / "server.log"
    env = _server_environment(home)
    with open(log, "wb") as handle:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(name, f"http://127.0.0.1:{port}", token, process, log)
    try:
        _wait_until_ready(server, probe_path, SERVER_START_TIMEOUT)
    except BaseException:
        stop_server(server)
        raise
    return server


def stop_server(server: Server, grace: float = 20.0) -> None:
    """SIGTERM the server (it shuts its kernels down), then kill every descendant left.

    Descendants are recorded before the server goes (afterwards orphaned kernels are no longer
    its children); the server's own process group is killed too.
    """
    process = server.process
    server.remember_descendants()
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    leftovers = []
    for child in server.descendants.values():
        with contextlib.suppress(psutil.Error):
            if child.is_running():
                child.kill()
                leftovers.append(child)
    psutil.wait_procs(leftovers, timeout=10)
