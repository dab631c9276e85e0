"""A real browser (Debian's Chromium, driven by Playwright) opens the studio, clicks Draft and
sees a <video> that it can play; a screenshot is saved as a test artifact
(TESSERA_TEST_ARTIFACTS, default ./test-artifacts). Skips, saying why, without them."""
import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = next((p for p in (os.environ.get("TESSERA_CHROMIUM"), shutil.which("chromium"),
                             shutil.which("chromium-browser")) if p), None)
if CHROMIUM is None:
    pytest.skip("no Chromium: install Debian's `chromium` package (apt-get install chromium)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="no Playwright: pip install playwright (its bundled driver; "
                                      "the browser is Debian's chromium)")

from studio_server import Running  # noqa: E402  (tests/studio_server.py)

ARTIFACTS = Path(os.environ.get("TESSERA_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))
PLAYABLE = """async (video) => {
    if (video.readyState < 2) await new Promise((ok, bad) => {
        video.addEventListener('loadeddata', ok, {once: true});
        video.addEventListener('error', () => bad(new Error('video error ' + video.error?.code)), {once: true});
    });
    video.muted = true;
    await video.play();
    return {ready: video.readyState, duration: video.duration, width: video.videoWidth,
            paused: video.paused, error: video.error ? video.error.code : null};
}"""


def test_draft_in_a_real_browser(tmp_path, tiny_engine):
    app = Running(tmp_path / "ws", tiny_engine, client=False)
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 1600})
                page.goto(app.url, wait_until="load", timeout=60_000)   # the queue timer never idles
                prompt = page.get_by_label("Prompt").first
                prompt.wait_for(timeout=60_000)
                prompt.fill("a red ball moves right over green grass")
                page.get_by_role("button", name="Draft", exact=True).click()
                page.get_by_text("Done", exact=False).first.wait_for(timeout=120_000)
                video = page.locator("video").first
                video.wait_for(state="attached", timeout=60_000)
                state = video.evaluate(PLAYABLE)
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "studio_draft.png"), full_page=True)
            finally:
                browser.close()
        assert state["error"] is None and state["ready"] >= 2, state
        assert state["duration"] > 0 and state["width"] > 0 and not state["paused"], state
        assert len(app.studio.library) == 1
    finally:
        app.close()
