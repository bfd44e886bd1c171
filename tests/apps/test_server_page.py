"""The page in a real headless Chromium: a composed photo of real faces uploaded, one label drawn per face with the
text the API gives, probabilities on hover; a file that is not an image and a photo without faces get a message."""
from types import SimpleNamespace

import numpy as np
import pytest

import facekit.infer.analyzer
from benchmarks.live_server import chromium, live_server, missing_browser, upload_on_page
from facekit.apps.server import create_app
from facekit.vision.drawing import face_label
from facekit.vision.images import read_image, write_image
from tests.apps.test_server import DEFAULT_MODEL, small_jpeg
from tests.face_scenes import make_detector

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(missing_browser() is not None, reason=f"no headless browser: {missing_browser()}")]


@pytest.fixture(scope="module")
def server():
    analyzer = facekit.infer.analyzer.FaceAnalyzer(DEFAULT_MODEL, make_detector("yunet"))
    with live_server(create_app(analyzer)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as driver:
        yield driver


def test_page_draws_one_label_per_face_of_an_uploaded_photo(server, browser, four_faces_scene, tmp_path):
    import httpx2
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    image, placed = four_faces_scene
    photo = tmp_path / "four_faces.jpg"
    write_image(photo, image)
    status = upload_on_page(browser, server, photo)
    assert status.get_attribute("data-state") == "done", status.text
    assert status.text == "4 faces found in four_faces.jpg."
    faces = httpx2.post(server + "/analyze", content=photo.read_bytes(), timeout=60).json()["faces"]
    labels = [label.text for label in browser.find_elements(By.CSS_SELECTOR, "#overlay .face-label")]
    assert len(labels) == len(placed) == len(faces)
    # The JSON's faces, labelled as the demos label a FaceResult (same gender, age and race fields).
    assert labels == [face_label(SimpleNamespace(**{key: face[key] for key in ("gender", "age", "race")}))
                      for face in faces]

    groups = browser.find_elements(By.CSS_SELECTOR, "#overlay g.face")
    ActionChains(browser).move_to_element(groups[0].find_element(By.CSS_SELECTOR, "rect.box")).perform()
    details = browser.find_element(By.ID, "details").text
    assert "gender" in details and "age group" in details and f"{faces[0]['age']:.1f}" in details

    screenshot = tmp_path / "page.png"
    assert browser.save_screenshot(str(screenshot))
    shot = read_image(screenshot).astype(int)
    for colour in ({"male": (40, 120, 230), "female": (230, 60, 140)}[face["gender"]] for face in faces):
        assert (np.abs(shot - colour).max(axis=2) < 12).sum() > 200, colour  # the boxes and tags are on screen


@pytest.mark.parametrize("name, content, message", [
    ("notes.txt", b"not a photo at all\n", "notes.txt: not an image"),
    ("wall.jpg", small_jpeg(), "No face found in wall.jpg."),
])
def test_page_says_when_a_file_is_not_an_image_or_has_no_face(server, browser, tmp_path, name, content, message):
    from selenium.webdriver.common.by import By
    path = tmp_path / name
    path.write_bytes(content)
    status = upload_on_page(browser, server, path)
    assert status.text.startswith(message)
    assert browser.find_elements(By.CSS_SELECTOR, "#overlay .face-label") == []
