"""Defects of the CUDA paths that reproduce on CPU: checkpoints load to CPU (RNG states must be
CPU byte tensors), a run never resumes on another kind of device, gradient penalties work
with compiled nets, and scoring samples are fp32 whatever the training precision."""
from __future__ import annotations

import functools
import json

import pytest
import torch

from ganbench.data import DataCache
from ganbench.errors import GanbenchError
from ganbench.runner import run_suite
from ganbench.suite import load_suite
from ganbench.testing import single_thread  # noqa: F401  (pytest fixture)
from ganbench.train import Trainer, load_checkpoint, save_checkpoint

TINY = """
[suite]
name = "dev"
[matrix]
model = ["MODEL"]
dataset = ["digits"]
[train]
steps = 4
batch_size = 8
log_every = 2
checkpoint_every = 2
threads = 1
[models.MODEL]
width = 4
[metrics]
names = []
"""


def _trainer(plugins, tmp_path, model: str = "dcgan", sets: tuple[str, ...] = ()) -> Trainer:
    run = load_suite(plugins, "dev.toml", text=TINY.replace("MODEL", model), sets=list(sets)).runs[0]
    data = DataCache(plugins, tmp_path / "cache").get(run.dataset, run.dataset_options)
    return Trainer(plugins, run, data, torch.device("cpu"))


def test_a_checkpoint_loads_to_cpu_with_cpu_rng_states(plugins, tmp_path, single_thread) -> None:
    trainer = _trainer(plugins, tmp_path)
    trainer.train_step()
    save_checkpoint(tmp_path / "c.pt", trainer.state_dict())
    sd = load_checkpoint(tmp_path / "c.pt")
    assert sd["device"] == "cpu"
    for key in ("gen", "torch_rng"):
        assert sd[key].device.type == "cpu" and sd[key].dtype == torch.uint8
    again = _trainer(plugins, tmp_path)
    again.load_state_dict(sd)
    trainer.train_step()
    again.train_step()  # the restored streams draw the same batches and latents
    for a, b in zip(trainer.G.parameters(), again.G.parameters()):
        assert torch.equal(a, b)


def test_a_run_never_resumes_on_another_kind_of_device(plugins, tmp_path, single_thread) -> None:
    trainer = _trainer(plugins, tmp_path)
    sd = trainer.state_dict()
    sd["device"] = "cuda"  # as a GPU run's checkpoint says
    with pytest.raises(GanbenchError, match="written on cuda.*continue on cpu") as err:
        _trainer(plugins, tmp_path).load_state_dict(sd)
    assert 'train.device = "cuda"' in str(err.value) and "delete" in str(err.value)


def test_a_device_change_fails_the_run_with_the_reason(plugins, tmp_path, single_thread) -> None:
    suite = load_suite(plugins, "dev.toml", text=TINY.replace("MODEL", "dcgan"))
    run = suite.runs[0]
    run_suite(plugins, suite, tmp_path)
    ckpt = tmp_path / "dev" / run.run_id / "checkpoint.pt"
    sd = load_checkpoint(ckpt)
    sd["device"], sd["step"] = "cuda", 2
    save_checkpoint(ckpt, sd)
    (tmp_path / "dev" / run.run_id / "status.json").write_text(json.dumps({"state": "failed"}))
    result = run_suite(plugins, suite, tmp_path)
    assert result.states[run.run_id] == "failed"
    status = json.loads((tmp_path / "dev" / run.run_id / "status.json").read_text())
    assert "written on cuda" in status["error"]


def test_gradient_penalty_with_a_compiled_critic(plugins, tmp_path, single_thread, monkeypatch) -> None:
    """aot_autograd has no double backward: the penalty must differentiate the eager D.
    aot_eager is the same autograd path as inductor without its C++ compile."""
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="aot_eager"))
    torch._dynamo.reset()
    trainer = _trainer(plugins, tmp_path, "wgan-gp", ("train.compile=true",))
    for _ in range(2):
        trainer.train_step()
    assert torch.isfinite(trainer.acc).all()
    torch._dynamo.reset()


def test_scoring_samples_are_fp32_and_match_a_plain_forward(plugins, tmp_path, single_thread) -> None:
    """The evaluation sampler never autocasts: the images equal G(z) in fp32, quantised."""
    from ganbench.sampling import quantize, sample_latent

    trainer = _trainer(plugins, tmp_path)
    images, _ = trainer.sampler(8, seed=3)(8)
    gen = torch.Generator().manual_seed(3)
    z = sample_latent(8, trainer.cfg.latent_dim, trainer.cfg.latent_dist, torch.device("cpu"), gen)
    trainer.G.eval()
    with torch.inference_mode():
        expected = quantize(trainer.G(z))
    assert (images.int() - expected.int()).abs().max() <= 1  # the folded-BN copy rounds at most one level
