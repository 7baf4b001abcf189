import torch

from mimickit.agents.returns import compute_gae, compute_next_values
from mimickit.envs.base_env import DoneFlags

NULL, FAIL, SUCC, TIME = (int(f) for f in (DoneFlags.NULL, DoneFlags.FAIL, DoneFlags.SUCC, DoneFlags.TIME))


def compute_td_lambda_returns(r, v, nv, done, gamma, lam):
    """The critic's target as the agent forms it: R_t = A_t + V(s_t)."""
    return compute_gae(r, v, nv, done, gamma, lam) + v


def _naive_gae(r, v, nv, done, gamma, lam):
    """Per env, per step: the lambda-weighted sum of TD errors up to the episode or rollout end."""
    T, N = r.shape
    adv = torch.zeros(T, N, dtype=torch.float64)
    for n in range(N):
        for t in range(T):
            total, weight = 0.0, 1.0
            for k in range(t, T):
                total += weight * (r[k, n] + gamma * nv[k, n] - v[k, n])
                if done[k, n] != NULL:
                    break
                weight *= gamma * lam
            adv[t, n] = total
    return adv


def test_gae_matches_the_definition_across_episode_ends():
    g = torch.Generator().manual_seed(0)
    T, N = 9, 4
    r, v, nv = (torch.randn(T, N, generator=g, dtype=torch.float64) for _ in range(3))
    done = torch.randint(0, 4, (T, N), generator=g)
    done[torch.rand(T, N, generator=g) < 0.6] = NULL
    adv = compute_gae(r, v, nv, done, 0.9, 0.8)
    torch.testing.assert_close(adv, _naive_gae(r, v, nv, done, 0.9, 0.8))


def test_time_outs_bootstrap_and_failures_do_not():
    nv = torch.tensor([[5.0, 5.0, 5.0, 5.0]])
    done = torch.tensor([[NULL, TIME, FAIL, SUCC]])
    torch.testing.assert_close(compute_next_values(nv, done), torch.tensor([[5.0, 5.0, 0.0, 0.0]]))
    # one-step episodes: the target is r + gamma * V(final obs) for a time-out, r for a failure
    r = torch.ones(1, 4)
    returns = compute_td_lambda_returns(r, torch.zeros(1, 4), compute_next_values(nv, done), done, 0.5, 0.9)
    torch.testing.assert_close(returns, torch.tensor([[3.5, 3.5, 1.0, 1.0]]))


def test_lambda_limits():
    """lambda = 0: the one-step TD target; lambda = 1: the discounted return bootstrapped at the rollout end."""
    r = torch.tensor([[1.0], [2.0], [3.0]])
    v = torch.tensor([[0.5], [0.25], [0.125]])
    nv = torch.tensor([[0.25], [0.125], [10.0]])
    done = torch.full((3, 1), NULL)
    g = 0.5
    td0 = compute_td_lambda_returns(r, v, nv, done, g, 0.0)
    torch.testing.assert_close(td0, r + g * nv)
    mc = compute_td_lambda_returns(r, v, nv, done, g, 1.0)
    expected = torch.tensor([[1 + g * 2 + g**2 * 3 + g**3 * 10], [2 + g * 3 + g**2 * 10], [3 + g * 10]])
    torch.testing.assert_close(mc, expected)
