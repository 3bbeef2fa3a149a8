"""Fixtures for real-browser tests: JupyterLab, Voila and Debian's headless Chromium (Playwright).

``lab_server`` / ``voila_server`` (session) serve the repository root on 127.0.0.1 with a token;
``browser`` (session, alias ``chromium``) drives ``/usr/bin/chromium``; ``page`` (per test) lets
only local requests out, records console messages and page errors, fails the test when a widget
failed to render, and saves a screenshot to ``test-artifacts/`` when the test fails. Helpers live
in ``page_tools`` and ``jupyter_servers``.
"""


import contextlib
import os
import re
import secrets
import sys
from collections.abc import Iterator

import pytest
from jupyter_servers import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    REPO,
    VIEWPORT,
    Server,
    free_port,
    start_server,
    stop_server,
)

from page_tools import _widget_error_message, widget_errors


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
        "--JupyterNotebookApp.expose_app_in_browser=True",  # Notebook 7, same server
        f"--LabApp.workspaces_dir={home / 'workspaces'}",
        f"--LabApp.user_settings_dir={home / 'settings'}",
        # An absolute path keeps .ipynb_checkpoints/ out of the repository.
        f"--FileCheckpoints.checkpoint_dir={home / 'checkpoints'}",
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
    if url.startswith(("blob:", "data:", "about:", "file:")):
        return True
    match = re.match(r"^[a-z][a-z0-9+.-]*://(\[[^\]]*\]|[^/:?#]*)", url, re.IGNORECASE)
    return bool(match) and match.group(1).lower() in ("127.0.0.1", "localhost", "[::1]")


def _route_local_only(route) -> None:
    if _is_local(route.request.url):
        route.continue_()
    else:
        route.abort()


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:150] or "test"


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

