"""When stdout is not a terminal (nohup, a cluster job, CI), `ganbench run` prints a plain
progress line per run every --progress-every seconds instead of silence between "done" lines."""
from __future__ import annotations

from ganbench import cli
from ganbench.plainlog import PlainProgress


def test_one_line_per_run_per_interval_with_pace_and_losses():
    now = [0.0]
    lines: list[str] = []
    p = PlainProgress(lines.append, every=60, clock=lambda: now[0])
    p.started("r1", 1000)
    p.update("r1", 100, {"img_per_s": 320.0, "loss_d": 0.9, "loss_g": 2.0})  # first log: printed
    now[0] = 30
    p.update("r1", 200, {"img_per_s": 330.0})  # within the interval: quiet
    now[0] = 61
    p.update("r1", 300, {"img_per_s": 340.0, "loss_d": 0.8, "loss_g": 1.9})
    now[0] = 62
    p.update("r1", 1000, {})  # the last step always prints
    assert len(lines) == 3
    assert "r1: step 100/1,000 (10%), 320 img/s" in lines[0] and "D 0.900 G 2.000" in lines[0]
    assert "step 300/1,000 (30%)" in lines[1] and "ETA 4 min" in lines[1]  # 200 steps in 61 s: 700 to go take 214 s
    p.finished("r1")
    p.update("r1", 5, {})
    assert len(lines) == 3


def test_run_to_a_pipe_prints_plain_progress_lines(tmp_path, capsys):
    suite = tmp_path / "s.toml"
    suite.write_text('[suite]\nname = "s"\n[matrix]\nmodel = ["dcgan"]\ndataset = ["digits"]\n[train]\nsteps = 4\n'
                     'batch_size = 8\nlog_every = 2\nthreads = 1\nnum_final_images = 0\ncheckpoint_every = 0\n'
                     '[models.dcgan]\nwidth = 4\n[datasets.digits]\nlimit = 64\n[metrics]\nnames = []\n')
    assert cli.main(["run", str(suite), "--results", str(tmp_path / "res"), "--progress-every", "0"]) == 0
    out = capsys.readouterr().out
    assert "step 2/4 (50%)" in out and "step 4/4 (100%)" in out
