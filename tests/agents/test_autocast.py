"""update.<phase>.autocast: a phase's loss in bfloat16 (torch.autocast) where its precision suffices (the critic, the
discriminator), refused for the actor, whose log-probs need float32."""
import pytest
import torch

from pendulum_agents import make_pendulum_agent


def test_a_bf16_critic_runs_under_autocast_and_tracks_the_float32_one(tmp_path):
    losses, seen = {}, []
    for autocast in ("null", "bf16"):
        agent = make_pendulum_agent("ppo", tmp_path / autocast, [f"algo.update.critic.autocast={autocast}"])
        critic = agent.phase("critic")
        loss = critic.loss

        def recording_loss(batch, loss=loss, agent=agent):
            seen.append((torch.is_autocast_enabled("cpu"), agent.model.value(batch.obs).dtype))
            return loss(batch)

        critic.loss = recording_loss
        agent.train(max_iters=4)
        losses[autocast] = torch.tensor([r["critic/loss"] for r in agent.logger.rows])
    assert (False, torch.float32) in seen and (True, torch.bfloat16) in seen
    # same seed, same rollouts until the critics' rounding moves the advantages: the losses agree to ~1 %
    assert torch.allclose(losses["bf16"], losses["null"], rtol=0.05), losses
    assert not torch.equal(losses["bf16"], losses["null"]), "the bf16 run computed nothing in bfloat16"


@pytest.mark.parametrize("setting", ["algo.update.actor.autocast=bf16", "algo.update.critic.autocast=fp8"])
def test_autocast_of_the_actor_or_an_unknown_dtype_is_refused(tmp_path, setting):
    with pytest.raises(Exception, match="autocast"):
        make_pendulum_agent("ppo", tmp_path, [setting])
