"""Real-browser test harness: JupyterLab, Voila and Debian's headless Chromium (Playwright).

Fixtures
    ``lab_server`` (session)   JupyterLab on 127.0.0.1 serving the repository root, with a token.
    ``voila_server`` (session) Voila on 127.0.0.1 serving the repository root, with a token.
    ``browser`` (session)      Playwright Chromium (``/usr/bin/chromium``), headless.
    ``chromium`` (session)     alias of ``browser``.
    ``page`` (function)        a fresh context + page; only 127.0.0.1/localhost requests go out;
                               console messages (``page.console_messages``) and page errors
                               (``page.page_errors``) are recorded; fails the test on
                               "Error displaying widget" (see ``widget_errors``); on failure a screenshot goes to
                               ``test-artifacts/<test name>.png``.

Helpers (plain functions; import them with ``from conftest import ...`` or pass them around)
    ``open_notebook_in_lab(page, lab_server, notebook_path, timeout=180)``
    ``open_notebook_in_voila(page, voila_server, notebook_path, selector, timeout=180)``
    ``assert_no_widget_errors(page)`` / ``widget_errors(page) -> list[str]``
    ``image_bytes(page, locator) -> bytes``
    ``press_slider(page, slider_locator, key, times=1)``
    ``wait_for_image_change(page, locator, old_bytes, timeout=30) -> bytes``
    ``screenshot_path(name) -> Path``

Servers are started in sessions of their own and stopped with SIGTERM (they shut their kernels
down), then whatever is left of their descendants and process group is killed. Kernels run in
sessions of their own, so they are found as descendants, not through the process group.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psutil
import pytest

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


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory) -> Iterator[Server]:
    """JupyterLab serving the repository root; the app is exposed as ``window.jupyterapp``."""
    home = tmp_path_factory.mktemp("jupyterlab")
    port, token = free_port(), secrets.token_hex(16)
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.allow_root=True",  # refuses to start as root otherwise
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={REPO}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.expose_app_in_browser=True",
        f"--LabApp.workspaces_dir={home / 'workspaces'}",
        f"--LabApp.user_settings_dir={home / 'settings'}",
    ]
    server = start_server("JupyterLab", command, home, port, token, "/api/status")
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture(scope="session")
def voila_server(tmp_path_factory) -> Iterator[Server]:
    """Voila serving the repository root: open ``/voila/render/<notebook path>``.

    Every page load runs the notebook in a new kernel that lives until the server stops.
    """
    home = tmp_path_factory.mktemp("voila")
    port, token = free_port(), secrets.token_hex(16)
    command = [
        sys.executable,
        "-m",
        "voila",
        "--no-browser",
        "--Voila.ip=127.0.0.1",
        f"--Voila.port={port}",
        "--Voila.port_retries=0",
        f"--Voila.token={token}",
        f"--Voila.root_dir={REPO}",
        "--show_tracebacks=True",
    ]
    server = start_server("Voila", command, home, port, token, "/voila/static/voila.js")
    try:
        yield server
    finally:
        stop_server(server)


# --------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright's sync API."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"browser tests need Chromium at {CHROMIUM}: install Debian's chromium: "
            "apt-get install chromium  (never `playwright install`)",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def chromium(browser):
    """Alias of ``browser``."""
    return browser


def _is_local(url: str) -> bool:
    if url.startswith(("blob:", "data:", "about:")):
        return True
    match = re.match(r"^[a-z][a-z0-9+.-]*://(\[[^\]]*\]|[^/:?#]*)", url, re.IGNORECASE)
    return bool(match) and match.group(1).lower() in ("127.0.0.1", "localhost", "[::1]")


def _route_local_only(route) -> None:
    if _is_local(route.request.url):
        route.continue_()
    else:
        route.abort()


def screenshot_path(name: str) -> Path:
    """Where a screenshot called ``name`` goes: ``docs/`` when CONVVIZ_UPDATE_SCREENSHOTS=1,
    else ``test-artifacts/`` (git-ignored)."""
    if os.environ.get("CONVVIZ_UPDATE_SCREENSHOTS") == "1":
        return REPO / "docs" / name
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:150] or "test"


def _page_text(page) -> str:
    try:
        return page.evaluate("() => document.body ? document.body.innerText : ''")
    except Exception:  # a closed or crashed page has no text
        return ""


@pytest.fixture
def page(browser, request):
    """A fresh browser context and page for one test (see the module docstring)."""
    context = browser.new_context(viewport=VIEWPORT)
    context.route("**/*", _route_local_only)
    new_page = context.new_page()
    new_page.set_default_timeout(60_000)
    console: list[str] = []
    errors: list[str] = []
    new_page.on("console", lambda message: console.append(f"[{message.type}] {message.text}"))
    new_page.on("pageerror", lambda error: errors.append(str(error)))
    new_page.console_messages = console
    new_page.page_errors = errors
    request.node._browser_logs = (console, errors)
    try:
        yield new_page
        call_report = getattr(request.node, "_browser_report_call", None)
        test_failed = call_report is None or call_report.failed
        widget_error = widget_errors(new_page)
        if test_failed or widget_error:
            with contextlib.suppress(Exception):
                ARTIFACTS.mkdir(exist_ok=True)
                new_page.screenshot(
                    path=str(ARTIFACTS / f"{_safe_name(request.node.name)}.png"), full_page=True
                )
        if widget_error and not test_failed:
            pytest.fail(_widget_error_message(new_page, widget_error), pytrace=False)
    finally:
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, and add the browser console to failures."""
    report = yield
    setattr(item, f"_browser_report_{report.when}", report)
    logs = getattr(item, "_browser_logs", None)
    if report.failed and logs is not None:
        console, errors = logs
        if errors:
            report.sections.append(("browser page errors", "\n".join(errors)[-8000:]))
        if console:
            report.sections.append(("browser console", "\n".join(console)[-8000:]))
    return report


# --------------------------------------------------------------------------- helpers


_WIDGET_ERRORS_JS = """
() => {
  const found = [];
  const text = document.body ? document.body.innerText : '';
  for (const line of text.split('\\n'))
    if (line.includes('Error displaying widget')) found.push(line.trim());
  // ipywidgets 8 shows a "broken" icon instead when a widget's model/view class fails to load.
  document.querySelectorAll('.jupyter-widgets-error-widget').forEach(e =>
    found.push('ipywidgets error widget: ' + e.innerText.trim()));
  return found;
}
"""


def widget_errors(page) -> list[str]:
    """Widgets that failed to render on the page: "Error displaying widget" text, and
    ipywidgets 8's error widgets ("Click to show javascript error.", when a widget's JavaScript
    class could not be loaded). Empty when all is well (or the page is gone)."""
    try:
        return page.evaluate(_WIDGET_ERRORS_JS)
    except Exception:  # a closed or crashed page
        return []


def _widget_error_message(page, found: list[str]) -> str:
    message = "widgets failed to render: " + " | ".join(found[:5])
    console_errors = [m for m in getattr(page, "console_messages", []) if m.startswith("[error]")]
    page_errors = getattr(page, "page_errors", [])
    if console_errors:
        message += "\nconsole errors:\n" + "\n".join(e[:1500] for e in console_errors[-3:])
    if page_errors:
        message += "\npage errors:\n" + "\n".join(e[:1500] for e in page_errors[-3:])
    return message


def assert_no_widget_errors(page) -> None:
    """Fail if a widget failed to render: the page shows "Error displaying widget" or an
    ipywidgets error widget (its JavaScript failed). The message includes console errors."""
    found = widget_errors(page)
    if found:
        raise AssertionError(_widget_error_message(page, found))


_LAB_STATE_JS = """
() => {
  const app = window.jupyterapp;
  if (!app) return {error: 'window.jupyterapp is missing (start Lab with expose_app_in_browser)'};
  const panel = app.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.widgets || !panel.sessionContext)
    return {error: 'the current widget is not a notebook'};
  const cells = [];
  panel.content.widgets.forEach((cell, index) => {
    if (cell.model.type !== 'code') return;
    const prompt = cell.node.querySelector('.jp-InputPrompt');
    const outputs = cell.model.outputs ? cell.model.outputs.toJSON() : [];
    cells.push({
      index,
      source: cell.model.sharedModel.getSource(),
      count: cell.model.executionCount,
      prompt: prompt ? prompt.innerText.trim() : '',
      errors: outputs.filter(o => o.output_type === 'error')
                     .map(o => (o.traceback || []).join('\\n') || `${o.ename}: ${o.evalue}`),
      stderr: outputs.filter(o => o.output_type === 'stream' && o.name === 'stderr')
                     .map(o => Array.isArray(o.text) ? o.text.join('') : o.text),
    });
  });
  const session = panel.sessionContext.session;
  const kernel = session && session.kernel;
  return {
    path: panel.context ? panel.context.path : '',
    kernel: kernel ? kernel.status : 'no kernel',
    connection: kernel ? kernel.connectionStatus : 'none',
    cells,
  };
}
"""


def _lab_state(page) -> dict:
    return page.evaluate(_LAB_STATE_JS)


def _status_bar_text(page) -> str:
    return page.evaluate(
        "() => { const bar = document.querySelector('#jp-main-statusbar');"
        " return bar ? bar.innerText : ''; }"
    )


def _clean(text: str, chars: int = 3000) -> str:
    text = _ANSI.sub("", text)
    return text if len(text) <= chars else "…" + text[-chars:]


def _describe_cells(state: dict) -> str:
    rows = []
    for cell in state.get("cells", []):
        first_line = (cell["source"].strip().splitlines() or [""])[0][:60]
        rows.append(f"  cell {cell['index']}: prompt {cell['prompt']!r}  {first_line}")
    return "\n".join(rows)


def _stderr_text(state: dict) -> str:
    chunks = [text for cell in state.get("cells", []) for text in cell["stderr"]]
    return _clean("".join(chunks), 2000)


def open_notebook_in_lab(page, lab_server: Server, notebook_path: str, timeout: float = 180):
    """Open ``notebook_path`` (relative to the repo root) in JupyterLab, run all cells, and wait.

    Waits until the status bar reads ``Python 3 (ipykernel) | Idle`` (before that a Run All is
    silently dropped), runs ``notebook:run-all-cells`` (re-issued once if nothing started), then
    waits until every non-empty code cell has an execution count, no ``[*]`` prompt is left and
    the kernel is idle. Raises ``AssertionError`` with the traceback (and stderr) if a cell
    failed, or with the cells' prompts if ``timeout`` seconds (for the whole call) ran out.
    """
    deadline = time.monotonic() + timeout
    remaining_ms = lambda: max(1_000.0, (deadline - time.monotonic()) * 1000)  # noqa: E731
    path = quote(notebook_path.lstrip("/"))
    page.goto(lab_server.url(f"/lab/tree/{path}?reset"))
    page.wait_for_selector(".jp-Notebook", timeout=remaining_ms())
    try:
        page.wait_for_function(
            """text => {
                const bar = document.querySelector('#jp-main-statusbar');
                return !!bar && bar.innerText.includes(text);
            }""",
            arg=KERNEL_IDLE,
            timeout=remaining_ms(),
        )
    except Exception as error:
        raise AssertionError(
            f"the kernel of {notebook_path} did not become {KERNEL_IDLE!r} within {timeout} s; "
            f"status bar: {_status_bar_text(page)!r}; server log:\n{lab_server.log_tail(2000)}"
        ) from error

    def run_all() -> None:
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

    run_all()
    started_by = time.monotonic() + 15
    reissued = False
    state: dict = {}
    while time.monotonic() < deadline:
        state = _lab_state(page)
        if "error" in state:
            raise AssertionError(f"{notebook_path}: {state['error']}")
        cells = [cell for cell in state["cells"] if cell["source"].strip()]
        running = any("*" in cell["prompt"] for cell in cells)
        failures = [cell for cell in cells if cell["errors"]]
        if failures and not running and state["kernel"] == "idle":
            cell = failures[0]
            raise AssertionError(
                f"{notebook_path}: cell {cell['index']} failed:\n"
                f"{cell['source'][:500]}\n--- traceback ---\n{_clean(cell['errors'][0])}\n"
                f"--- stderr ---\n{_stderr_text(state)}"
            )
        done = all(cell["count"] is not None for cell in cells)
        if done and not running and state["kernel"] == "idle":
            return
        started = running or any(cell["count"] is not None for cell in cells)
        if not started and not reissued and time.monotonic() > started_by:
            run_all()  # the first request was dropped (kernel not really ready)
            reissued = True
        time.sleep(0.25)
    raise AssertionError(
        f"{notebook_path}: cells did not finish within {timeout} s (kernel "
        f"{state.get('kernel')!r}, connection {state.get('connection')!r}):\n"
        f"{_describe_cells(state)}\n--- stderr ---\n{_stderr_text(state)}"
    )


_VOILA_ERRORS_JS = """
() => Array.from(document.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], .output_error'))
    .map(e => e.innerText)
    .filter(t => t.includes('Traceback') || /\\w+Error\\b/.test(t))
"""


def open_notebook_in_voila(
    page, voila_server: Server, notebook_path: str, selector: str, timeout: float = 180
):
    """Open ``notebook_path`` in Voila (which runs it) and wait until ``selector`` is visible.

    Raises ``AssertionError`` early with the traceback if the page shows a failed cell, or with
    the page text if ``selector`` did not appear within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    path = quote(notebook_path.lstrip("/"))
    page.goto(voila_server.url(f"/voila/render/{path}"), wait_until="commit")
    target = page.locator(selector).first
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if target.is_visible():
                return
        failures = []
        with contextlib.suppress(Exception):
            failures = page.evaluate(_VOILA_ERRORS_JS)
        if failures:
            raise AssertionError(
                f"{notebook_path} failed in Voila:\n{_clean(failures[0])}\n"
                f"server log:\n{voila_server.log_tail(2000)}"
            )
        time.sleep(0.25)
    raise AssertionError(
        f"{selector!r} did not appear in Voila's rendering of {notebook_path} within {timeout} s;"
        f" page text:\n{_clean(_page_text(page), 2000)}\nserver log:\n{voila_server.log_tail(2000)}"
    )


_FETCH_BASE64_JS = """
async url => {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`fetch ${url}: HTTP ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 8192)
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
  return btoa(binary);
}
"""


def image_bytes(page, locator) -> bytes:
    """The bytes behind an HTML ``<img src>`` or an SVG ``<image href>``, fetched in the page.

    Works for ``blob:``, ``data:`` and same-origin URLs (ipywidgets ``Image`` uses ``blob:``).
    """
    url = locator.evaluate(
        "e => e.getAttribute('src') || e.getAttribute('href') || "
        "e.getAttributeNS('http://www.w3.org/1999/xlink', 'href') || ''"
    )
    if not url:
        raise AssertionError("the image element has no src/href")
    return base64.b64decode(page.evaluate(_FETCH_BASE64_JS, url))


def press_slider(page, slider_locator, key: str, times: int = 1) -> None:
    """Focus the ``.noUi-handle`` of an ipywidgets slider and press ``key`` ``times`` times.

    ``slider_locator`` is the slider widget (``.widget-slider`` or an element added with
    ``add_class``) or anything containing it; keys: ArrowRight/ArrowLeft/Home/End/PageUp...
    """
    handle = slider_locator.locator(".noUi-handle").first
    handle.scroll_into_view_if_needed()
    handle.focus()
    for _ in range(times):
        page.keyboard.press(key)


def wait_for_image_change(page, locator, old_bytes: bytes, timeout: float = 30) -> bytes:
    """Poll ``image_bytes(page, locator)`` until it differs from ``old_bytes``; return it."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):  # the element may be replaced while re-rendering
            current = image_bytes(page, locator)
            if current != old_bytes:
                return current
        if time.monotonic() > deadline:
            raise AssertionError(f"the image did not change within {timeout} s")
        time.sleep(0.1)
