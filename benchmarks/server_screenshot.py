"""The README's screenshot of the page: face_server's app on 127.0.0.1, a photo uploaded in headless Chromium, the
first face pointed at so that its probabilities show.

    .venv/bin/python -m benchmarks.readme_example /tmp/example.jpg
    .venv/bin/python -m benchmarks.server_screenshot /tmp/example.jpg docs/server_page.jpg [face_server.py options]
"""
import io
import sys

from PIL import Image

import face_server
from benchmarks.live_server import chromium, live_server, missing_browser, upload_on_page
from facekit.apps.server import app_from_options


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    photo, output = sys.argv[1:3]
    if missing_browser():
        sys.exit(f"error: {missing_browser()}")
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    app = app_from_options(face_server.server_options(face_server.parse_args(sys.argv[3:])))
    with live_server(app) as url, chromium(1100, 1000) as browser:
        status = upload_on_page(browser, url, photo)
        print(status.text)
        boxes = browser.find_elements(By.CSS_SELECTOR, "#overlay rect.box")
        if boxes:
            ActionChains(browser).move_to_element(boxes[0]).perform()
        shot = Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("RGB")
    shot.save(output, quality=85)  # the format follows the extension
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
