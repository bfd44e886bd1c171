"""The web service on a real socket and headless Chromium to drive its page, for the page test: benchmarks/
live_server.py's, which the README screenshot (benchmarks/server_screenshot.py) uses too."""
from benchmarks.live_server import chromium, live_server, missing_browser, upload_on_page

__all__ = ["chromium", "live_server", "missing_browser", "upload_on_page"]
