"""[suite] compare_losses: one losses.csv column of every row on one panel, as report 5
compared latent sizes by their loss curves and optimizers by D's loss on real images."""
from __future__ import annotations

import json
from pathlib import Path

from ganbench.plots import draw_all
from ganbench.results import write_json
from ganbench.suite import load_suite
from ganbench.testing import fresh_plugins


def _run(sd: Path, run_id: str, optimizer: str, seed: int, level: float) -> None:
    d = sd / run_id
    d.mkdir(parents=True)
    write_json(d / "config.json", {"run_id": run_id, "coords": {"optimizer": optimizer, "seed": seed},
                                   "train": {"seed": seed, "optimizer": optimizer},
                                   "metrics": {"primary": "fd_classifier", "num_samples": 10}})
    write_json(d / "status.json", {"state": "done"})
    (d / "evals.jsonl").write_text(json.dumps({"step": 40, "final": True, "scores": {"fd_classifier": 1.0},
                                               "protocol": {"num_fake": 10}}) + "\n")
    rows = ["step,loss_d,loss_g,d_real,d_fake,loss_d_real,loss_d_fake"]
    rows += [f"{s},1.0,1.0,0.0,0.0,{level + seed * 0.1 + s / 1000},0.5" for s in range(10, 50, 10)]
    rows.insert(3, "25,1.0,1.0,0.0,0.0,,0.5")  # an interval without a D update: an empty cell
    (d / "losses.csv").write_text("\n".join(rows) + "\n")


def test_the_suite_draws_each_requested_column_for_every_row(tmp_path):
    sd = tmp_path / "sweep"
    for opt, level in (("adam", 0.3), ("sgd", 0.6)):
        for seed in (0, 1):
            _run(sd, f"{opt}-s{seed}", opt, seed, level)
    write_json(sd / "provenance.json", {"suite": "sweep", "axes": ["optimizer", "seed"], "primary": "fd_classifier",
                                        "compare_losses": ["loss_d_real", "no_such_column"]})
    entries = draw_all(sd, fresh_plugins())
    curves = [e for e in entries if e.kind == "loss-curve"]
    assert [e.path for e in curves] == ["plots/loss_d_real_vs_step.png"]  # nothing for a column no run logged
    assert (sd / curves[0].path).stat().st_size > 5000
    index = json.loads((sd / "plots" / "index.json").read_text())
    assert "plots/loss_d_real_vs_step.png" in [p["path"] for p in index["plots"]]
    # drawn again only when an input changed; removed when no longer asked for
    assert [e.path for e in draw_all(sd, fresh_plugins()) if e.kind == "loss-curve"] == [curves[0].path]
    write_json(sd / "provenance.json", {"suite": "sweep", "axes": ["optimizer", "seed"], "primary": "fd_classifier"})
    draw_all(sd, fresh_plugins())
    assert not (sd / curves[0].path).exists()


def test_compare_losses_is_a_suite_key_carried_into_provenance(tmp_path):
    from ganbench.runner import provenance

    path = tmp_path / "s.toml"
    path.write_text('[suite]\nname = "s"\ncompare_losses = ["loss_d_real"]\n[matrix]\nmodel = ["dcgan"]\n'
                    'dataset = ["digits"]\n')
    suite = load_suite(fresh_plugins(), path)
    assert provenance(suite, "cpu")["compare_losses"] == ["loss_d_real"]
