"""End to end through gradio_client against the real app on a free port (tiny engine):
draft, render, cancel mid-job, library after a restart, and a timeline export's duration."""
import json
import time

import pytest

gradio_client = pytest.importorskip("gradio_client")

from engine import io  # noqa: E402
from studio_server import Running  # noqa: E402  (tests/studio_server.py)


def test_draft_render_cancel_restart_export(tmp_path, tiny_engine):
    ws = tmp_path / "ws"
    app = Running(ws, tiny_engine)
    try:
        c = app.client
        import urllib.error
        import urllib.request
        base = f"http://127.0.0.1:{app.config.port}"
        with pytest.raises(urllib.error.HTTPError) as refused:          # DNS rebinding: foreign Host
            urllib.request.urlopen(urllib.request.Request(base + "/", headers={"Host": "evil.example"}))
        assert refused.value.code == 400
        for leak in ("/gradio_api/file=" + str(app.studio.ws.database), "/monitoring"):
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(base + leak)
        names = set(c.view_api(print_info=False, return_format="dict")["named_endpoints"])
        for name in ("/draft", "/render", "/image", "/animate", "/extend", "/loop", "/interpolate",
                     "/restyle", "/export_timeline", "/cancel"):
            assert name in names

        out = c.predict("a red ball moves right", "", "None", "16:9", 1.0, 7, True, 2, api_name="/draft")
        status, records, seed = out[0], out[3], out[4]     # (status, preview, gallery, records, seed, ...)
        assert "Done" in status and seed == 7 and [r["seed"] for r in records] == [7, 8]
        draft = records[0]

        out = c.predict(draft["id"], 0.5, api_name="/render")
        video, full = out[2], out[3]                          # (status, preview, video, record, ...)
        assert full["parents"] == [draft["id"]] and full["width"] > draft["width"]
        assert io.probe_video(video["video"] if isinstance(video, dict) else video).num_frames >= 5

        upload = io.write_video(io.read_video(app.studio.library.get(draft["id"]).file)[0],
                                tmp_path / "mine.mp4", fps=12)
        out = c.predict("", gradio_client.handle_file(str(upload)), "a red ball at night", 1, 0.5,
                        api_name="/restyle")
        assert out[3]["operation"] == "restyle" and out[3]["parents"] == []     # an upload has no parent
        app.studio.library.delete(out[3]["id"])

        before = len(app.studio.library)
        job = c.submit("a blue box", "", "None", "1:1", 1.0, 1, True, 1, api_name="/draft")
        deadline = time.monotonic() + 60
        running = []
        while not running and time.monotonic() < deadline:
            running = [j for j in app.studio.worker.jobs() if j.kind == "draft" and j.status == "running"]
            time.sleep(0.05)
        assert running, "the draft never started"
        c.predict(running[0].id, api_name="/cancel")
        result = job.result(timeout=60)
        assert "Cancelled" in result[0] and len(app.studio.library) == before

        project = {"name": "film", "fps": 12, "width": 64, "height": 36, "version": 1, "clips": [
            {"clip_id": draft["id"], "in_s": 0.0, "out_s": None, "cut": "crossfade", "cut_s": 0.25},
            {"clip_id": full["id"], "in_s": 0.0, "out_s": None, "cut": "cut", "cut_s": 0.0}]}
        out = c.predict("film", json.dumps(project), 12, "512x288 (16:9)", api_name="/export_timeline")
        exported = app.studio.ws.exports / "film.mp4"
        assert "Done" in out[0] and exported.is_file()
        expected = draft["seconds"] + full["seconds"] - 0.25
        assert io.probe_video(exported).duration_s == pytest.approx(expected, abs=1.01 / 12)
        assert (app.studio.ws.projects / "film.json").is_file()
    finally:
        app.close()

    again = Running(ws, tiny_engine)     # a restart: the library is still there
    try:
        ids = {e.id for e in again.studio.library.entries()}
        assert ids == {r["id"] for r in records} | {full["id"]}     # two drafts and the render
    finally:
        again.close()
