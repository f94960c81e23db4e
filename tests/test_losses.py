"""Losses and regularizers against hand-computed values and independent computations."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ganbench.errors import GanbenchError
from ganbench.testing import fresh_plugins, single_thread  # noqa: F401  (fixture)
from ganbench_plugins import losses as L
from ganbench_plugins import regularizers as R

pytestmark = pytest.mark.usefixtures("single_thread")

REAL = torch.tensor([2.0, -1.0, 0.5])
FAKE = torch.tensor([-3.0, 1.0])


def sig(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def mean(xs) -> float:
    xs = list(xs)
    return sum(xs) / len(xs)


def close(t: torch.Tensor, v: float) -> None:
    assert math.isclose(t.item(), v, rel_tol=1e-5, abs_tol=1e-6), (t.item(), v)


@pytest.fixture(scope="module")
def plugins():
    return fresh_plugins()


def test_every_loss_is_registered_with_its_role(plugins):
    roles = {n: plugins.losses.get(n).role for n in plugins.losses}
    for name in ("bce", "minimax", "wasserstein", "hinge", "lsgan"):
        assert roles[name] == "adversarial"
    assert roles["aux-ce"] == "auxiliary"
    for name in ("gradient-penalty", "weight-clipping", "r1", "max-norm"):
        assert roles[name] == "regularizer"
    for name in plugins.losses:
        assert plugins.losses.get(name).paper, f"{name} cites no paper"


def test_bce():
    d = mean(-math.log(sig(r)) for r in REAL.tolist()) + mean(-math.log(1 - sig(f)) for f in FAKE.tolist())
    close(L.bce_d(REAL, FAKE, 1.0, None), d)
    close(L.bce_g(FAKE, None, None), mean(-math.log(sig(f)) for f in FAKE.tolist()))


def test_bce_one_sided_label_smoothing():
    t = 0.9  # only the real side is smoothed
    d = (mean(-(t * math.log(sig(r)) + (1 - t) * math.log(1 - sig(r))) for r in REAL.tolist())
         + mean(-math.log(1 - sig(f)) for f in FAKE.tolist()))
    close(L.bce_d(REAL, FAKE, t, None), d)


def test_minimax_is_the_saturating_objective():
    assert [s for s in fresh_plugins().losses.entries() if s.spec.name == "minimax"][0].spec.d_loss is L.bce_d
    close(L.minimax_g(FAKE, None, None), mean(math.log(1 - sig(f)) for f in FAKE.tolist()))
    # when D rejects G's samples confidently, the saturating loss gives G almost no gradient
    rejected = torch.tensor([-8.0], requires_grad=True)
    L.minimax_g(rejected, None, None).backward()
    saturating = rejected.grad.abs().item()
    rejected.grad = None
    L.bce_g(rejected, None, None).backward()
    assert saturating < 1e-3 < rejected.grad.abs().item()


def test_wasserstein():
    close(L.wasserstein_d(REAL, FAKE, 1.0, None), mean(FAKE.tolist()) - mean(REAL.tolist()))
    close(L.wasserstein_g(FAKE, None, None), -mean(FAKE.tolist()))


def test_hinge():
    d = mean(max(0.0, 1 - r) for r in REAL.tolist()) + mean(max(0.0, 1 + f) for f in FAKE.tolist())
    close(L.hinge_d(REAL, FAKE, 1.0, None), d)  # = (0 + 2 + 0.5)/3 + (0 + 2)/2
    close(L.hinge_d(REAL, FAKE, 1.0, None), 2.5 / 3 + 1.0)
    close(L.hinge_g(FAKE, None, None), 1.0)


@pytest.mark.parametrize("fn", [L.wasserstein_d, L.hinge_d])
def test_losses_without_targets_refuse_label_smoothing(fn):
    with pytest.raises(GanbenchError, match="label_smoothing"):
        fn(REAL, FAKE, 0.9, None)


def test_lsgan_with_the_papers_coding():
    o = L.LSGANOptions()  # a, b, c = 0, 1, 1
    d = 0.5 * mean((r - 1) ** 2 for r in REAL.tolist()) + 0.5 * mean(f ** 2 for f in FAKE.tolist())
    close(L.lsgan_d(REAL, FAKE, 1.0, o), d)
    close(L.lsgan_g(FAKE, None, o), 0.5 * mean((f - 1) ** 2 for f in FAKE.tolist()))


def test_lsgan_other_coding_and_smoothing():
    o = L.LSGANOptions(a=-1.0, b=1.0, c=0.0)  # the paper's eq. 8 coding
    d = 0.5 * mean((r - 1) ** 2 for r in REAL.tolist()) + 0.5 * mean((f + 1) ** 2 for f in FAKE.tolist())
    close(L.lsgan_d(REAL, FAKE, 1.0, o), d)
    close(L.lsgan_g(FAKE, None, o), 0.5 * mean(f ** 2 for f in FAKE.tolist()))
    # smoothing 0.1 moves the real target 10% of the way from b toward a: 1 -> 0.8
    d = 0.5 * mean((r - 0.8) ** 2 for r in REAL.tolist()) + 0.5 * mean((f + 1) ** 2 for f in FAKE.tolist())
    close(L.lsgan_d(REAL, FAKE, 0.9, o), d)
    with pytest.raises(GanbenchError, match="must differ"):
        from ganbench.config import from_dict
        from_dict(L.LSGANOptions, {"a": 1.0, "b": 1.0}, "losses.lsgan")


def test_aux_ce():
    real_cls = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    fake_cls = torch.tensor([[0.5, 0.5, 3.0]])
    y_real, y_fake = torch.tensor([0, 2]), torch.tensor([1])

    def ce(logits: list[float], k: int) -> float:
        return -(logits[k] - math.log(sum(math.exp(v) for v in logits)))

    lr = mean([ce(real_cls[0].tolist(), 0), ce(real_cls[1].tolist(), 2)])
    lf = ce(fake_cls[0].tolist(), 1)
    close(L.aux_ce_d(real_cls, fake_cls, y_real, y_fake, None), lr + lf)  # D: real and fake, as in the paper
    close(L.aux_ce_g(fake_cls, y_fake, None), lf)
    close(L.aux_ce_g(fake_cls, y_fake, L.AuxCEOptions(weight=0.5)), 0.5 * lf)


# -- regularizers -------------------------------------------------------------------
class SmallCritic(nn.Module):
    """A critic without batch norm whose input gradient is not constant."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 4, 3, 1, 1), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 6 * 6, 1))

    def forward(self, x: torch.Tensor, y=None) -> torch.Tensor:
        return self.net(x).squeeze(1)


def test_gradient_penalty_matches_an_independent_computation():
    torch.manual_seed(0)
    D = SmallCritic()
    real, fake = torch.randn(5, 1, 6, 6), torch.randn(5, 1, 6, 6)
    torch.manual_seed(123)
    got = R.gradient_penalty(D, real, fake, None, None, R.GradientPenaltyOptions())
    # the same interpolation coefficients, then one image at a time
    torch.manual_seed(123)
    eps = torch.rand(5, 1, 1, 1)
    terms = []
    for i in range(5):
        x = (eps[i] * real[i] + (1 - eps[i]) * fake[i])[None].requires_grad_(True)
        (g,) = torch.autograd.grad(D(x).sum(), x)
        terms.append((g.norm().item() - 1.0) ** 2)
    close(got, 10.0 * mean(terms))
    # create_graph: the penalty's gradient reaches D's weights
    got.backward()
    assert all(p.grad.abs().sum() > 0 for n, p in D.named_parameters() if n.endswith("weight"))


def test_gradient_penalty_on_a_linear_critic():
    """D(x) = <w, x>: the gradient is w everywhere, the penalty is 10 (||w|| - 1)^2."""
    lin = nn.Linear(4, 1, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[3.0, 0.0, 4.0, 0.0]]))  # ||w|| = 5
    D = lambda x, y=None: lin(x).squeeze(1)  # noqa: E731
    got = R.gradient_penalty(D, torch.randn(7, 4), torch.randn(7, 4), None, None, R.GradientPenaltyOptions())
    close(got, 10.0 * (5 - 1) ** 2)
    close(R.r1_penalty(D, torch.randn(7, 4), None, None, None, R.R1Options(gamma=2.0)), 0.5 * 2.0 * 25.0)


def test_penalties_refuse_batch_norm_at_run_time():
    D = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.LazyLinear(1))
    x = torch.randn(4, 1, 6, 6)
    D(x)
    for penalty in (R.gradient_penalty, R.r1_penalty):
        with pytest.raises(GanbenchError, match="batch norm"):
            penalty(D, x, x, None, None, None)


def test_gradient_penalty_uses_the_critics_scores_of_aux_models():
    class Aux(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(3, 1)

        def forward(self, x, y=None):
            return self.lin(x).squeeze(1), torch.zeros(len(x), 2)

    got = R.gradient_penalty(Aux(), torch.randn(4, 3), torch.randn(4, 3), None, None, None)
    assert got.dim() == 0 and torch.isfinite(got)


def test_weight_clipping_bounds_every_parameter():
    torch.manual_seed(0)
    D = nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.Flatten(), nn.LazyLinear(1))
    D(torch.randn(2, 1, 5, 5))
    with torch.no_grad():
        for p in D.parameters():
            p.normal_(0, 1)
    inside = {n: p.detach().clone() for n, p in D.named_parameters()}
    R.clip_weights(D, R.WeightClippingOptions(clip=0.05))
    for name, p in D.named_parameters():  # batch-norm gains included, as in the paper's code
        assert p.abs().max().item() <= 0.05 + 1e-7, name
        keep = inside[name].abs() < 0.05
        torch.testing.assert_close(p[keep], inside[name][keep])  # values inside stay as they were
    R.clip_weights(D, None)  # default: the paper's 0.01
    assert max(p.abs().max().item() for p in D.parameters()) <= 0.01 + 1e-7


def test_max_norm_caps_each_units_incoming_weights_and_keeps_the_short_ones():
    torch.manual_seed(0)
    D = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(36, 6), nn.Linear(6, 1))
    with torch.no_grad():
        D[3].weight.mul_(0.01)  # one unit already inside the cap: it must stay as it was
    before = {n: p.detach().clone() for n, p in D.named_parameters()}
    R.max_norm(D, R.MaxNormOptions(max_norm=0.5))
    for layer in (D[0], D[2], D[3]):
        norms = layer.weight.detach().flatten(1).norm(dim=1)
        assert norms.max().item() <= 0.5 + 1e-6
    big = before["0.weight"].flatten(1).norm(dim=1) > 0.5
    assert big.any()
    # a long row is scaled, not clipped: its direction is kept
    cos = torch.nn.functional.cosine_similarity(D[0].weight.detach().flatten(1)[big],
                                                before["0.weight"].flatten(1)[big])
    torch.testing.assert_close(cos, torch.ones_like(cos))
    torch.testing.assert_close(D[3].weight.detach(), before["3.weight"])
    torch.testing.assert_close(D[2].bias.detach(), before["2.bias"])  # biases are not constrained


@pytest.mark.parametrize("cls, field, bad", [(R.GradientPenaltyOptions, "weight", -1.0),
                                             (R.R1Options, "gamma", -1.0),
                                             (R.WeightClippingOptions, "clip", 0.0),
                                             (R.MaxNormOptions, "max_norm", 0.0)])
def test_regularizer_options_are_validated(cls, field, bad):
    from ganbench.config import from_dict
    with pytest.raises(GanbenchError, match=field):
        from_dict(cls, {field: bad}, f"losses.x.{field}")


def test_regularizer_defaults_are_the_papers():
    assert R.GradientPenaltyOptions().weight == 10.0
    assert R.WeightClippingOptions().clip == 0.01
    assert R.R1Options().gamma == 10.0
    assert R.MaxNormOptions().max_norm == 1.9365  # the 2014 GAN code's max_col_norm
