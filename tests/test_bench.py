from vidlle.bench import bare_transcode
from vidlle.io.synth import write_dark_clip

from tests.conftest import decode_video


def test_bare_transcode_baseline_counts_every_frame(tmp_path):
    src = tmp_path / "in.mp4"
    write_dark_clip(src, width=64, height=48, frames=10, audio=False)
    result = bare_transcode(str(src), str(tmp_path / "out.mp4"))
    assert result["frames"] == 10 and result["steady_fps"] > 0
    assert len(decode_video(tmp_path / "out.mp4")[1]) == 10
