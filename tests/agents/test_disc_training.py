import torch

from mimickit.agents.disc_losses import compute_disc_accuracy, compute_disc_objective
from mimickit.models.discriminator import Discriminator

SHIFT = torch.tensor([4.0, 0.0])  # demo cloud N(shift, I) vs agent cloud N(0, I): Bayes accuracy 0.977


def _train(grad_penalty_weight: float, steps: int = 300) -> Discriminator:
    torch.manual_seed(0)
    disc = Discriminator(2, hidden_dims=[32, 32], activation="relu", init_output_scale=1.0)
    opt = torch.optim.Adam(disc.parameters(), lr=1e-3)
    for _ in range(steps):
        pos, neg = torch.randn(128, 2) + SHIFT, torch.randn(128, 2)
        loss, _ = compute_disc_objective(disc, pos, neg, grad_penalty_weight, logit_reg_weight=0.01)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return disc


@torch.no_grad()
def _max_abs_logit(disc: Discriminator) -> float:
    """Over a wide cloud around both clusters, far points included."""
    return float(disc(torch.randn(4000, 2) * 4.0 + SHIFT / 2).abs().max())


def test_disc_separates_two_clouds_with_bounded_logits():
    disc = _train(grad_penalty_weight=5.0)  # MimicKit's AMP humanoid weight
    torch.manual_seed(1)
    with torch.no_grad():
        accuracy = compute_disc_accuracy(disc(torch.randn(2000, 2) + SHIFT), disc(torch.randn(2000, 2)))
    assert accuracy > 0.9
    bounded = _max_abs_logit(disc)
    assert bounded < 3.0
    # without the penalty the same training drives the logits an order of magnitude further out
    assert _max_abs_logit(_train(grad_penalty_weight=0.0)) > 5 * bounded
