"""The web service on a real socket (uvicorn in a thread, 127.0.0.1, a free port) and headless Chromium to drive
its page: for the README screenshot (benchmarks/server_screenshot.py) and the page test
(tests/apps/test_server_page.py, through tests/live_server.py)."""
import contextlib
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import uvicorn

# Debian's packages (apt-get install chromium chromium-driver); .ci/run installs them when missing.
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage")


@contextlib.contextmanager
def live_server(app):
    """Serves ``app`` on 127.0.0.1 at a free port in a thread; yields its base URL; stops it on exit."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def missing_browser():
    """Why no headless Chromium can be driven here, or None when it can."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.is_file():
            return f"{path} not found: apt-get install -y chromium chromium-driver (.ci/run does this)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -r requirements.txt"
    return None


@contextlib.contextmanager
def chromium(width=1280, height=1000):
    """Headless Chromium through chromedriver, with a fresh profile that is removed afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def upload_on_page(driver, base_url, photo, timeout=60):
    """Opens the page, chooses ``photo`` in its file input and waits for the answer; returns the status element."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    driver.get(base_url + "/")
    driver.find_element(By.ID, "file").send_keys(str(Path(photo).resolve()))
    status = driver.find_element(By.ID, "status")
    WebDriverWait(driver, timeout).until(lambda d: status.get_attribute("data-state") in ("done", "error"))
    return status
