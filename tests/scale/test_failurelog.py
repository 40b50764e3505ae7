from __future__ import annotations

from vidlle.scale.failurelog import append_failure, failure_traceback


def test_traceback_text_keeps_the_cause_and_hides_passwords(tmp_path):
    def open_camera():
        raise ConnectionError("refused by rtsp://admin:Zq9hunter2@10.0.0.7/live")

    try:
        try:
            open_camera()
        except ConnectionError as exc:
            raise RuntimeError("camera gone") from exc
    except RuntimeError as exc:
        text = failure_traceback(exc)
    assert "Zq9hunter2" not in text and "rtsp://***@10.0.0.7/live" in text, text
    assert "in open_camera" in text and text.rstrip().endswith("RuntimeError: camera gone"), text

    log = tmp_path / "logs" / "gate.log"  # its folder is made
    append_failure(str(log), "camera gate failed: one", "first")
    append_failure(str(log), "camera gate failed: two", "second")
    lines = log.read_text().splitlines()
    assert [ln.split(" ", 3)[3] for ln in lines[::2]] == ["camera gate failed: one", "camera gate failed: two"]
    assert lines[1::2] == ["first", "second"] and all(ln.startswith("--- 20") for ln in lines[::2])
