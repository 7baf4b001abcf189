"""ASE low-level pre-training on the CPU engine: latents on the unit sphere, held for the configured intervals and
resampled at episode starts; the latent each action was taken with is the one stored; the encoder reward, the
reward mix and the diversity objective against hand computations; a fixed latent for test mode; the low-level
policy a high-level controller loads from a checkpoint."""
import math

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from mimickit.agents.ase import LATENT, diversity_objective, load_low_level_policy
from mimickit.agents.ase_losses import (
    compute_diversity_loss,
    compute_enc_loss,
    compute_enc_reward,
    compute_latent_hold_steps,
    latent_hold_step_range,
)
from mimickit.agents.disc_losses import compute_disc_reward
from mimickit.agents.ppo import PPOAgent
from mimickit.config import register_configs
from mimickit.models.ase import Encoder, LatentActorCritic
from mimickit.run import build_env
from mimickit.utils.seeding import seed_everything
from mimickit.utils.timer import SectionTimer
from pendulum_agents import CONF, RecordingLogger

# the procedural clip ships with the repository: these tests need no converted clips
TINY = ["experiment=ase_humanoid_pretrain", "motion=procedural_walk", "num_envs=8", "sim.nthread=1",
        "algo.steps_per_iter=8", "algo.model.actor_hidden_dims=[32]", "algo.model.critic_hidden_dims=[32]",
        "algo.discriminator.hidden_dims=[32]", "algo.encoder.hidden_dims=[32]", "algo.latent_dim=8"]
NO_RESETS = ["env.enable_early_termination=false", "env.episode_length=100.0"]


def compose_cfg(*overrides):
    register_configs()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(config_name="config", overrides=[*TINY, *overrides])


def make_agent(tmp_path, *overrides):
    cfg = compose_cfg(*overrides)
    seed_everything(0)
    return instantiate(cfg.algo, env=build_env(cfg), logger=RecordingLogger(), out_dir=str(tmp_path), device="cpu")


def act_steps(agent, num_steps):
    """The latents each of `num_steps` deterministic actions was taken with, (steps, N, D)."""
    obs = agent.env.reset()
    latents = []
    for _ in range(num_steps):
        action = agent.policy_action(obs)
        latents.append(agent.latents.clone())
        _, _, done, _ = agent.env.step(action)
        obs = agent.env.reset_done(done)
    return torch.stack(latents)


# ---------------------------------------------------------------- latents
def test_hold_steps_follow_mimickit_time_check():
    dt = 1.0 / 30.0
    u = torch.tensor([0.0, 0.5, 0.999999])
    # U = 0.2 + 0.3 u seconds -> ceil(U / dt) steps: 6, 10.5 -> 11, ~15
    assert compute_latent_hold_steps(u, 0.2, 0.5, dt).tolist() == [6, 11, 15]
    # a hold of 0 s still lasts one step: MimicKit checks after each step
    assert compute_latent_hold_steps(torch.zeros(3), 0.0, 5.0, dt).tolist() == [1, 1, 1]
    assert latent_hold_step_range(0.0, 5.0, dt) == (1, 150)


def test_latents_are_unit_vectors_held_for_the_configured_interval(tmp_path):
    agent = make_agent(tmp_path, *NO_RESETS, "algo.latent_time_min=0.2", "algo.latent_time_max=0.5")
    lo, hi = latent_hold_step_range(0.2, 0.5, agent.env.dt)
    assert (lo, hi) == (6, 15)
    latents = act_steps(agent, 80)
    torch.testing.assert_close(latents.norm(dim=-1), torch.ones(latents.shape[:2]))
    holds = []
    for env in range(agent.env.num_envs):
        changed = (latents[1:, env] != latents[:-1, env]).any(dim=-1).nonzero().flatten() + 1
        starts = [0, *changed.tolist()]
        holds += [b - a for a, b in zip(starts[:-1], starts[1:])]
        assert len(starts) >= 80 // hi, starts  # resampled all along, not only once
    assert holds and all(lo <= h <= hi for h in holds), holds
    assert min(holds) < max(holds)  # a random hold per resample


def test_an_episode_start_gets_a_new_latent(tmp_path):
    agent = make_agent(tmp_path, *NO_RESETS, "algo.latent_time_min=4.0", "algo.latent_time_max=5.0")
    action = agent.policy_action(agent.env.reset())
    before = agent.latents.clone()
    agent.env.step(action)
    obs = agent.env.reset(torch.tensor([2, 5]))  # two episodes start again, long before their latents' hold ends
    agent.policy_action(obs)
    changed = (agent.latents != before).any(dim=-1)
    assert changed.tolist() == [i in (2, 5) for i in range(agent.env.num_envs)]


def test_fixed_latent_seed_gives_every_env_one_latent_for_good(tmp_path):
    agent = make_agent(tmp_path, "algo.fixed_latent_seed=3", "algo.latent_time_max=0.1")
    latents = act_steps(agent, 20)
    assert torch.equal(latents, latents[:1, :1].expand_as(latents))
    torch.testing.assert_close(latents[0, 0].norm(), torch.tensor(1.0))
    again = make_agent(tmp_path, "algo.fixed_latent_seed=3").latents
    other = make_agent(tmp_path, "algo.fixed_latent_seed=4").latents
    assert torch.equal(again[0], latents[0, 0]) and not torch.allclose(other[0], latents[0, 0])


def test_each_stored_latent_is_the_one_its_action_was_taken_with(tmp_path):
    # a new latent every step: storing the next step's latent (or none) would break the log-probabilities
    agent = make_agent(tmp_path, "algo.latent_time_min=0.0", "algo.latent_time_max=0.0")
    agent._start_segment()
    agent._rollout(SectionTimer(agent.device))
    s = agent.storage
    stored = s.extras[LATENT]
    assert (stored[1:] != stored[:-1]).any(dim=-1).all()
    dist = agent.model.action_distribution(agent.model_input(s.obs, s.extras))
    torch.testing.assert_close(dist.log_prob(s.action), s.log_prob)
    wrong = agent.model.action_distribution(agent.model_input(s.obs, {LATENT: stored.roll(1, dims=0)}))
    assert not torch.allclose(wrong.log_prob(s.action), s.log_prob)


# ---------------------------------------------------------------- encoder
def test_encoder_reward_and_loss_by_hand():
    encoder = Encoder(obs_dim=2, latent_dim=2, hidden_dims=[], activation="relu", init_output_scale=0.1)
    with torch.no_grad():
        encoder.net[-1].weight.copy_(torch.eye(2))
    disc_obs = torch.tensor([[3.0, 4.0], [3.0, 4.0], [0.0, -2.0]])
    latents = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    enc_pred = encoder(disc_obs)  # unit length: (0.6, 0.8), (0.6, 0.8), (0, -1)
    torch.testing.assert_close(enc_pred, torch.tensor([[0.6, 0.8], [0.6, 0.8], [0.0, -1.0]]))
    # z . q = 0.6, 0.8, -1 -> clipped at 0
    torch.testing.assert_close(compute_enc_reward(latents, enc_pred), torch.tensor([0.6, 0.8, 0.0]))
    torch.testing.assert_close(compute_enc_loss(latents, enc_pred), torch.tensor(-(0.6 + 0.8 - 1.0) / 3))


def test_reward_mixes_style_and_encoder_rewards(tmp_path):
    agent = make_agent(tmp_path, "algo.task_reward_weight=0.25", "algo.disc_reward_weight=0.5",
                       "algo.enc_reward_weight=0.75")
    agent._start_segment()
    agent._rollout(SectionTimer(agent.device))
    s = agent.storage
    env_reward = s.reward.clone()
    norm_disc_obs = agent.disc_normalizer.normalize(s.flat("disc_negative"))
    with torch.no_grad():
        style = compute_disc_reward(agent.discriminator(norm_disc_obs), 2.0).view_as(env_reward)
        q = agent.encoder(norm_disc_obs)
        stats = agent.compute_rewards()
    cosine = (s.flat(LATENT) * q).sum(-1).view_as(env_reward)
    assert (cosine < 0).any() and (cosine > 0).any()  # the clip at 0 matters
    expected = 0.25 * env_reward + 0.5 * style + 0.75 * cosine.clamp_min(0.0)
    torch.testing.assert_close(s.reward, expected)
    torch.testing.assert_close(stats["enc/reward_mean"], cosine.clamp_min(0.0).mean())


# ---------------------------------------------------------------- diversity
def test_diversity_loss_by_hand_on_a_tiny_policy():
    # mean(s, z) = [2 s + z_1, -s + z_2]: the observation cancels out of mu(s, z') - mu(s, z)
    model = LatentActorCritic(obs_dim=1, action_dim=2, latent_dim=2, actor_hidden_dims=[], critic_hidden_dims=[],
                              activation="relu", init_std=0.1, learn_std=False, actor_output_scale=0.0)
    with torch.no_grad():
        model.actor.mean_net[-1].weight.copy_(torch.tensor([[2.0, 1.0, 0.0], [-1.0, 0.0, 1.0]]))
    norm_obs = torch.tensor([[0.5], [-1.0], [2.0]])
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.6, 0.8]])
    z_new = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.8, -0.6]])
    # a_diff = mean((z' - z)^2): 1, 0, 0.5*(0.04 + 1.96) = 1;  z_diff = 0.5 - 0.5 z.z': 0.5, 0, 0.5
    ratios = torch.tensor([1.0 / 0.50001, 0.0, 1.0 / 0.50001])
    expected = ((1.0 - ratios) ** 2).mean()
    loss, ratio = diversity_objective(model, norm_obs, z, z_new, target=1.0)
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(ratio, ratios.mean())
    loss.backward()  # the objective trains the actor
    assert model.actor.mean_net[-1].weight.grad.abs().sum() > 0
    means = model.latent_action_distribution(norm_obs, z).mean
    new_means = model.latent_action_distribution(norm_obs, z_new).mean
    torch.testing.assert_close(compute_diversity_loss(means, new_means, z, z_new, 1.0)[0], expected)


def test_actor_loss_adds_the_weighted_diversity_objective(tmp_path):
    agent = make_agent(tmp_path, "algo.diversity_weight=0.5", "algo.diversity_tar=2.0")
    agent._start_segment()
    agent._rollout(SectionTimer(agent.device))
    with torch.no_grad():
        agent.compute_rewards()
    agent._compute_targets()
    batch = next(agent.storage.minibatches(16, 1))
    torch.manual_seed(7)
    terms = agent.compute_actor_loss(batch)
    ppo = PPOAgent.compute_actor_loss(agent, batch)
    torch.manual_seed(7)  # the same fresh latents
    new_latents = torch.nn.functional.normalize(torch.randn(16, agent.latent_dim), dim=-1)
    diversity, _ = diversity_objective(agent.model, agent.obs_normalizer.normalize(batch.obs), batch.extras[LATENT],
                                       new_latents, 2.0)
    torch.testing.assert_close(terms["diversity_loss"], diversity.detach())
    torch.testing.assert_close(terms["loss"], ppo["loss"] + 0.5 * diversity)


# ---------------------------------------------------------------- training and the high-level controller's view
def test_training_logs_ase_terms_and_checkpoints_the_encoder(tmp_path):
    agent = make_agent(tmp_path, "test_episodes=2", "algo.iters_per_output=2")
    agent.train(max_iters=2)
    row = agent.logger.rows[-1]
    for key in ("enc/loss", "enc/reward_mean", "enc/reward_std", "actor/diversity_loss", "actor/diversity_ratio",
                "disc/loss", "disc/accuracy", "disc/reward_mean", "critic/loss", "actor/loss"):
        assert key in row and math.isfinite(row[key]), key
    assert -1.0 <= row["enc/loss"] <= 1.0 and 0.0 <= row["enc/reward_mean"] <= 1.0
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    assert {"encoder", "optimizer/enc", "discriminator", "model"} <= set(state)
    assert [p.name for p in agent.phases] == ["critic", "actor", "disc", "enc"]


def test_a_high_level_controller_loads_the_frozen_low_level_policy(tmp_path):
    cfg = compose_cfg()
    seed_everything(0)
    agent = instantiate(cfg.algo, env=build_env(cfg), logger=RecordingLogger(), out_dir=str(tmp_path), device="cpu")
    agent.train(max_iters=1)  # normalisers with statistics, so that loading them matters
    OmegaConf.save(cfg, tmp_path / "config.yaml", resolve=True)  # what run.py writes beside the checkpoint
    policy = load_low_level_policy(str(tmp_path / "model.pt"))
    assert (policy.obs_dim, policy.latent_dim) == (agent.env.obs_dim, 8)
    assert not any(p.requires_grad for p in policy.parameters()) and not policy.training

    obs = agent.env.reset()
    z = torch.nn.functional.normalize(torch.randn(agent.env.num_envs, 8), dim=-1)
    agent.latents.copy_(z)
    agent.fixed_latent_seed = 0  # hold the latents the test set
    torch.testing.assert_close(policy(obs, z), agent.policy_action(obs))
    torch.testing.assert_close(policy(obs, z), agent.low_level_policy()(obs, z))
    assert not torch.allclose(policy(obs, z), policy(obs, z.roll(1, dims=0)))  # the latent steers the action
    disc_obs = agent.env.disc_obs()
    with torch.no_grad():
        expected = compute_disc_reward(agent.discriminator(agent.disc_normalizer.normalize(disc_obs)), 2.0)
    torch.testing.assert_close(policy.style_reward(disc_obs), expected)


def test_loading_a_checkpoint_of_another_method_is_refused(tmp_path):
    OmegaConf.save({"algo": {"_target_": "mimickit.agents.amp.AMPAgent"}}, tmp_path / "config.yaml")
    (tmp_path / "model.pt").write_bytes(b"")
    with pytest.raises(ValueError, match="not an ASE agent"):
        load_low_level_policy(str(tmp_path / "model.pt"))
