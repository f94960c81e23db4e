"""What a suite publishes: per-run artifacts, plots, and leaderboard pages (markdown and
HTML) whose relative links resolve wherever the page is written, checked in a real
headless browser when one is installed."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import textwrap
from pathlib import Path
from urllib.parse import unquote

import pytest
import torch

from ganbench import cli
from ganbench.artifacts import gif_frames, grid_columns, save_grid, write_gif
from ganbench.board import build_board, plot_index, read_suite
from ganbench.leaderboard import to_markdown
from ganbench.plots import draw_all, draw_curves
from ganbench.publish import render, write_all
from ganbench.results import append_jsonl, set_status, write_json

PNG = b"\x89PNG\r\n\x1a\n"


# -- a synthetic suite folder: every file a finished suite has, written directly ----------
def _run(suite_dir: Path, coords: dict, seed: int, state: str = "done", steps: int = 400) -> Path:
    slug = "-".join("+".join(v) if isinstance(v, list) else str(v) for v in coords.values())
    run_dir = suite_dir / f"{slug}-s{seed}-{abs(hash((slug, seed))) % 10**8:08d}"
    (run_dir / "samples").mkdir(parents=True)
    write_json(run_dir / "config.json", {
        "run_id": run_dir.name, "coords": {**coords, "seed": seed},
        "train": {"loss": "wasserstein" if coords["model"] == "wgan" else "bce", "seed": seed,
                  "n_critic": 5 if coords["model"] == "wgan" else 1, "regularizers": []},
        "metrics": {"primary": "fid_inception"}})
    if state == "failed":
        set_status(run_dir, "failed", error="RuntimeError: this run failed on purpose")
        return run_dir
    gen = torch.Generator().manual_seed(seed)
    offset = {"dcgan": 0.0, "wgan": 15.0}[coords["model"]] + coords.get("latent_dim", 0) / 8
    with open(run_dir / "losses.csv", "w", encoding="utf-8") as f:
        f.write("step,loss_d,loss_g,d_real,d_fake,img_per_s\n")
        for step in range(5, steps + 1, 5):
            noise = torch.randn(2, generator=gen).tolist()
            f.write(f"{step},{1.2 - step / 1000 + 0.1 * noise[0]:.4f},{0.8 + step / 800 + 0.1 * noise[1]:.4f},"
                    f"0.6,0.3,500\n")
    for step in range(100, steps, 100):
        append_jsonl(run_dir / "evals.jsonl", {
            "step": step, "final": False, "scores": {"fid_inception": 200 - step / 4 + offset + seed * 3},
            "protocol": {"num_fake": 500}, "seconds": {"fid": 1.0, "generation": 0.1}})
    append_jsonl(run_dir / "evals.jsonl", {
        "step": steps, "final": True, "scores": {"fid_inception": 90 + offset + seed, "is_inception": 4.0 + seed / 10},
        "protocol": {"num_fake": 2000, "dataset": "cifar10"}, "seconds": {"fid": 3.0}})
    write_json(run_dir / "throughput.json", {
        "train_img_per_s": 400 + 50 * seed - offset, "ms_per_d_step": 20.0 + seed, "ms_per_g_step": 12.0,
        "generation_img_per_s": 3000.0 + seed, "device": "cpu"})
    for step in (0, 200, steps):
        save_grid(torch.rand(16, 3, 8, 8, generator=gen) * 2 - 1, run_dir / "samples" / f"step_{step:07d}.png")
    save_grid(torch.rand(16, 3, 8, 8, generator=gen) * 2 - 1, run_dir / "thumb.png", nrow=4)
    write_gif(sorted((run_dir / "samples").glob("step_*.png")), run_dir / "progress.gif")
    set_status(run_dir, "done", best={"step": 300, "value": 1.0, "score": "fid_inception"})
    return run_dir


@pytest.fixture
def suite_dir(tmp_path: Path) -> Path:
    """2 models × 2 class subsets × 2 seeds, one extra failed run; a class list joined by '+'."""
    d = tmp_path / "results" / "demo"
    for model in ("dcgan", "wgan"):
        for classes in (["sneaker"], ["coat", "trouser"]):
            for seed in range(2):
                _run(d, {"model": model, "dataset": "fashion-mnist", "classes": classes}, seed)
    _run(d, {"model": "wgan", "dataset": "fashion-mnist", "classes": ["sneaker"]}, 9, state="failed")
    write_json(d / "provenance.json", {"suite": "demo", "description": "a synthetic suite", "primary": "fid_inception",
                                       "device": "cpu (test)", "ganbench": "0", "git_commit": "abc",
                                       "command": "ganbench run demo.toml"})
    return d


def _png_ok(path: Path) -> tuple[int, int]:
    from PIL import Image

    assert path.is_file() and path.stat().st_size > 1000, path
    assert path.read_bytes()[:8] == PNG, path
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        return im.size


# -- plots ---------------------------------------------------------------------------------
def test_draw_all_writes_readable_plots_and_an_index(suite_dir, plugins):
    entries = draw_all(suite_dir, plugins)
    kinds = [e.kind for e in entries]
    assert kinds.count("curve") == 1 and kinds.count("throughput") == 1
    assert kinds.count("losses") == 8  # one per run with losses.csv; the failed run has none
    for e in entries:
        w, h = _png_ok(suite_dir / e.path)
        assert w >= 500 and h >= 300, (e.path, w, h)  # large enough to read
    assert (suite_dir / "plots" / "fid_inception_vs_step.png").is_file()
    assert plot_index(suite_dir) == entries


def test_plots_are_redrawn_only_when_their_inputs_change(suite_dir, plugins):
    draw_all(suite_dir, plugins)
    curve = suite_dir / "plots" / "fid_inception_vs_step.png"
    loss = next((suite_dir / "plots" / "losses").glob("*.png"))
    before = (curve.stat().st_mtime_ns, loss.stat().st_mtime_ns)
    draw_all(suite_dir, plugins)
    assert (curve.stat().st_mtime_ns, loss.stat().st_mtime_ns) == before
    # a new run changes the suite-level plots; a removed run loses its loss plot
    new = _run(suite_dir, {"model": "dcgan", "dataset": "fashion-mnist", "classes": ["sneaker"]}, 7)
    gone = loss.stem
    shutil.rmtree(suite_dir / gone)
    entries = draw_all(suite_dir, plugins)
    assert curve.stat().st_mtime_ns != before[0]
    assert (suite_dir / "plots" / "losses" / f"{new.name}.png").is_file()
    assert not loss.exists() and all(e.run_id != gone for e in entries)


def test_curves_need_evaluations_during_training(suite_dir, plugins):
    for p in suite_dir.glob("*/evals.jsonl"):  # keep only the final evaluations
        finals = [line for line in p.read_text().splitlines() if '"final": true' in line]
        p.write_text("\n".join(finals) + "\n")
    kinds = [e.kind for e in draw_all(suite_dir, plugins)]
    assert "curve" not in kinds and "throughput" in kinds


def test_many_groups_are_split_into_panels(tmp_path, plugins):
    d = tmp_path / "many"
    for model in ("dcgan", "wgan"):
        for c in range(14):
            _run(d, {"model": model, "dataset": "cifar10", "classes": [f"c{c}"]}, 0, steps=300)
    suite = read_suite(d)
    entries = draw_curves(suite.axes, suite.groups, "fid_inception", False, d / "plots")
    assert len(entries) == 2  # 14 class panels (2 model lines each): two figures of at most 12 panels
    for e in entries:
        _png_ok(d / e.path)


def test_a_panel_whose_runs_never_scored_draws_without_an_empty_legend(tmp_path, plugins):
    import warnings
    d = tmp_path / "mixed"
    _run(d, {"model": "dcgan", "dataset": "a"}, 0)
    (_run(d, {"model": "dcgan", "dataset": "b"}, 0) / "evals.jsonl").unlink()  # e.g. diverged before scoring
    suite = read_suite(d)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "No artists with labels" on an empty legend
        entries = draw_curves(suite.axes, suite.groups, "fid_inception", False, d / "plots")
    _png_ok(d / entries[0].path)


# -- leaderboard pages -----------------------------------------------------------------------
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _md_targets(md: str) -> list[str]:
    return LINK.findall(md)


def test_markdown_embeds_thumbnails_links_plots_and_resolves_everywhere(suite_dir, plugins, tmp_path):
    write_all(suite_dir, plugins)
    md = (suite_dir / "leaderboard.md").read_text()
    rows = [line for line in md.splitlines() if re.match(r"\| \d+ \|", line)]
    assert len(rows) == 4 and all("[![samples](" in r and "thumb.png" in r and "progress.gif" in r for r in rows)
    assert "2 done, 1 failed" in md and "this run failed on purpose" in md
    assert "![fid_inception against G step](plots/fid_inception_vs_step.png)" in md
    assert "plots/throughput.png" in md and md.count("plots/losses/") == 8
    targets = _md_targets(md)
    assert len(targets) >= 4 * 2 + 2 + 8
    for t in targets:
        assert not t.startswith(("/", "http")), t
        assert (suite_dir / unquote(t)).is_file(), t
    # published elsewhere (a folder with a space in its name): links are rewritten and still resolve
    out = tmp_path / "site dir" / "docs" / "board.md"
    out.parent.mkdir(parents=True)
    assert cli.main(["leaderboard", str(suite_dir), "-o", str(out)]) == 0
    published = out.read_text()
    for t in _md_targets(published):
        assert not t.startswith("/") and (out.parent / unquote(t)).resolve().is_file(), t
    assert "%20" not in published  # the space is in the page's folder, not in the links


def test_markdown_quotes_characters_that_break_links(tmp_path, plugins):
    d = tmp_path / "q"
    _run(d, {"model": "dcgan", "dataset": "cifar10", "classes": ["a b(c)"]}, 0)
    board = build_board(d, plugins)
    md = to_markdown(board)
    for t in _md_targets(md):
        assert " " not in t and "(" not in t
        assert (d / unquote(t)).is_file(), t


def test_leaderboard_command_infers_the_format_and_writes_html(suite_dir, tmp_path):
    out = tmp_path / "pub" / "index.html"
    out.parent.mkdir()
    assert cli.main(["leaderboard", str(suite_dir), "-o", str(out)]) == 0
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page and "http" not in page.split("<body>")[1]
    srcs = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert srcs and all((out.parent / unquote(s)).resolve().is_file() for s in srcs)
    assert (suite_dir / "plots" / "index.json").is_file()  # the command brought the plots up to date


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


#: appended to a copy of the page in the same folder (so relative paths are the same):
#: after the load event it marks every image with its natural width (0 = failed to load)
_PROBE = """<script>
window.addEventListener("load", () => {
  for (const img of document.images) img.setAttribute("data-natural-width", String(img.naturalWidth));
  document.body.setAttribute("data-probe", "loaded");
});
</script>"""


def test_html_page_renders_in_a_headless_browser(suite_dir, plugins, tmp_path):
    """Chromium loads the published page from file:// with no server and no network: the
    table rows are there and every image (thumbnails and plots) decodes."""
    browser = _browser()
    if browser is None:
        pytest.skip("no chromium on this machine: apt-get install -y chromium (the CI script does)")
    site = tmp_path / "site"
    site.mkdir()
    page = site / "index.html"
    render(suite_dir, "html", plugins, out=page, draw=True)
    html_text = page.read_text()
    assert "<script" not in html_text
    probe = site / "probe.html"
    probe.write_text(html_text.replace("</body>", _PROBE + "\n</body>"))
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
           f"--user-data-dir={tmp_path / 'chromium-profile'}", "--virtual-time-budget=10000",
           "--dump-dom", probe.as_uri()]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    dom = out.stdout
    assert out.returncode == 0 and 'data-probe="loaded"' in dom, out.stderr[-2000:]
    body_rows = re.findall(r"<tr>\s*<td", dom)
    assert len(body_rows) == 4  # one row per group, rendered by the browser's parser
    widths = re.findall(r'<img[^>]*data-natural-width="(\d+)"', dom)
    expected = 4 + 2  # a thumbnail per row, the curve and the throughput plots
    assert len(widths) == expected, dom[:3000]
    assert all(int(w) > 0 for w in widths), f"images that did not load: {widths}"


# -- per-run artifacts ----------------------------------------------------------------------
def test_grid_columns_and_gif_frames():
    assert grid_columns(64) == 8 and grid_columns(10) == 4 and grid_columns(64, classes=10) == 10
    frames = [Path(f"{i}.png") for i in range(1000)]
    picked = gif_frames(frames, 100)
    assert len(picked) <= 100 and picked[0] == frames[0] and picked[-1] == frames[-1]


TINY = """
[suite]
name = "tiny"
[matrix]
model = ["acgan"]
dataset = ["digits"]
seed = [0]
[train]
steps = 8
batch_size = 16
log_every = 2
eval_every = 4
sample_every = 4
checkpoint_every = 0
num_final_images = 5
grid_size = 20
device = "cpu"
[models.acgan]
width = 2
[datasets.digits]
resolution = 16
[metrics]
names = ["classifier"]
num_samples = 60
eval_num_samples = 30
[metrics.classifier]
epochs = 1
"""


def test_a_run_leaves_every_published_artifact(tmp_path, plugins):
    from ganbench.runner import run_suite
    from ganbench.suite import load_suite

    suite = load_suite(plugins, tmp_path / "tiny.toml", text=textwrap.dedent(TINY))
    threads = torch.get_num_threads()
    try:
        result = run_suite(plugins, suite, tmp_path / "res")
    finally:
        torch.set_num_threads(threads)
    run_id = suite.runs[0].run_id
    assert result.states == {run_id: "done"}
    d = tmp_path / "res" / "tiny"
    run = d / run_id
    grids = sorted((run / "samples").glob("step_*.png"))
    assert [g.name for g in grids] == ["step_0000000.png", "step_0000004.png", "step_0000008.png"]
    from PIL import Image
    with Image.open(run / "thumb.png") as im:
        assert im.size == (4 * 17 + 1, 4 * 17 + 1)  # 4 x 4 images of 16 px, 1 px padding
    with Image.open(grids[-1]) as im:  # conditional grid: one column per class (10 digits)
        assert im.size[0] == 10 * 17 + 1
    with Image.open(run / "progress.gif") as im:
        assert im.n_frames == 3
    finals = sorted(p.name for p in (run / "final").glob("*.png"))
    assert finals == ["000_0.png", "001_1.png", "002_2.png", "003_3.png", "004_4.png"]  # class in the name
    tp = json.loads((run / "throughput.json").read_text())
    for key in ("train_img_per_s", "ms_per_d_step", "ms_per_g_step", "generation_img_per_s", "eval_seconds",
                "final_eval_seconds", "peak_memory_mb", "params_g", "params_d", "flops_per_image",
                "flops_per_d_step", "flops_per_g_step"):
        assert isinstance(tp[key], (int, float)) and tp[key] > 0, key
    assert tp["flops_per_image"] == pytest.approx(tp["flops_per_iteration"] / 16)
    status = json.loads((run / "status.json").read_text())
    assert status["best"]["num_fake"] == 30  # best step among the curve's evaluations only
    steps = [int(line.split(",")[0]) for line in (run / "losses.csv").read_text().splitlines()[1:]]
    assert steps == [2, 4, 6, 8]
    for name in ("leaderboard.md", "leaderboard.html", "plots/throughput.png", "plots/fd_classifier_vs_step.png",
                 f"plots/losses/{run_id}.png"):
        assert (d / name).is_file(), name
    md = (d / "leaderboard.md").read_text()
    assert f"{run_id}/thumb.png" in md and "plots/fd_classifier_vs_step.png" in md
