from dataclasses import replace

import numpy as np
import pytest
import torch

from tts_gym import SparseDiffusionPolicy
from tts_gym.data import RobomimicWriter
from tts_gym.training import PRESETS, Trainer

OBS_KEYS = (("object", 3), ("robot0_eef_pos", 2))


def write_dataset(path, episodes=6, length=30, seed=0, extra=0, env_id="toy/Linear-v0"):
    """A learnable toy task: the action is a fixed linear function of the observation. ``extra``
    appends that many features to the same episodes (as the Kitchen end-effector layout does)."""
    rng = np.random.default_rng(seed)
    extra_rng = np.random.default_rng(seed + 1)
    mixing = rng.normal(size=(5, 2))
    keys = OBS_KEYS + ((("extra", extra),) if extra else ())
    with RobomimicWriter(path, keys, {"env_id": env_id}) as writer:
        for i in range(episodes):
            obs = np.cumsum(rng.normal(scale=0.1, size=(length, 5)), axis=0).astype(np.float32)
            more = extra_rng.normal(size=(length, extra)).astype(np.float32)
            writer.add_episode(np.concatenate([obs, more], axis=1), np.tanh(obs @ mixing).astype(np.float32), seed=i)
    return path


def test_tiny_training_lowers_the_loss_and_writes_a_loadable_policy(tmp_path):
    data = write_dataset(tmp_path / "toy.hdf5")
    config = PRESETS["tiny"].with_overrides(epochs=6, learning_rate=1e-3)
    trainer = Trainer(data, config, tmp_path / "policy.pt")
    before = trainer.validation_loss()
    result = trainer.train(progress=False)
    assert result.val_loss < 0.8 * before
    policy = SparseDiffusionPolicy.load(result.policy_path)
    assert policy.config.obs_keys == OBS_KEYS and policy.config.env_id == "toy/Linear-v0"
    assert policy.metadata["epochs"] == 6
    assert policy.act(np.zeros(5, np.float32)).shape == (2,)
    assert (tmp_path / "policy_run" / "log.csv").read_text().count("\n") == 7


def test_resume_gives_the_same_state_as_an_uninterrupted_run(tmp_path):
    data = write_dataset(tmp_path / "toy.hdf5")
    config = PRESETS["tiny"].with_overrides(epochs=3)
    straight = Trainer(data, config, tmp_path / "a.pt")
    straight.train(progress=False)

    Trainer(data, config, tmp_path / "b.pt").train(progress=False, max_epochs=1)  # as if killed after epoch 1
    resumed = Trainer(data, config, tmp_path / "b.pt")
    assert resumed.try_resume() and resumed.epoch == 1
    resumed.train(progress=False)
    for key, value in straight.ema.model.state_dict().items():
        torch.testing.assert_close(resumed.ema.model.state_dict()[key], value)


def test_resume_refuses_a_different_config(tmp_path):
    data = write_dataset(tmp_path / "toy.hdf5")
    Trainer(data, PRESETS["tiny"].with_overrides(epochs=1), tmp_path / "a.pt").train(progress=False)
    other = Trainer(data, PRESETS["tiny"].with_overrides(epochs=1, learning_rate=0.5), tmp_path / "a.pt")
    with pytest.raises(ValueError, match="another training config"):
        other.try_resume()


def test_fine_tuning_starts_from_the_given_policy_and_refuses_another_backbone(tmp_path):
    data = write_dataset(tmp_path / "toy.hdf5")
    config = PRESETS["tiny"].with_overrides(epochs=4, learning_rate=1e-3)
    trained = Trainer(data, config, tmp_path / "a.pt").train(progress=False)
    fresh = Trainer(data, config, tmp_path / "b.pt")
    fresh_loss = fresh.validation_loss()
    fresh.start_from(SparseDiffusionPolicy.load(trained.policy_path), "a.pt")
    assert fresh.validation_loss() == pytest.approx(trained.val_loss, rel=1e-5)
    assert trained.val_loss < 0.8 * fresh_loss
    fresh.train(progress=False, max_epochs=1)
    assert SparseDiffusionPolicy.load(tmp_path / "b.pt").metadata["init"] == "a.pt"
    resumed = Trainer(data, config, tmp_path / "b.pt")
    assert resumed.try_resume() and resumed.init == "a.pt"

    wider = Trainer(data, PRESETS["tiny"].with_overrides(shape=replace(config.shape, n_emb=64)), tmp_path / "c.pt")
    with pytest.raises(ValueError, match="cannot start from a.pt: its backbone is .*n_emb=32"):
        wider.start_from(SparseDiffusionPolicy.load(trained.policy_path), "a.pt")


def test_fine_tuning_widens_a_policy_that_observes_a_prefix_and_keeps_its_predictions(tmp_path):
    config = PRESETS["tiny"].with_overrides(epochs=4, learning_rate=1e-3)
    trained = Trainer(write_dataset(tmp_path / "toy.hdf5"), config, tmp_path / "a.pt").train(progress=False)
    widened = Trainer(write_dataset(tmp_path / "wide.hdf5", extra=3), config, tmp_path / "b.pt")
    assert widened.policy_config.backbone.obs_dim == 8
    fresh_loss = widened.validation_loss()
    widened.start_from(SparseDiffusionPolicy.load(trained.policy_path), "a.pt")
    # the appended inputs start at zero weight: the same predictions, so the same loss on the same windows
    assert widened.validation_loss() == pytest.approx(trained.val_loss, rel=1e-5)
    assert trained.val_loss < 0.8 * fresh_loss
    widened.train(progress=False, max_epochs=1)
    assert SparseDiffusionPolicy.load(tmp_path / "b.pt").config.backbone.obs_dim == 8

    narrower = Trainer(write_dataset(tmp_path / "toy.hdf5"), config, tmp_path / "c.pt")
    with pytest.raises(ValueError, match="cannot start from b.pt: its backbone is .*obs_dim=8"):
        narrower.start_from(SparseDiffusionPolicy.load(tmp_path / "b.pt"), "b.pt")
    # another env's wider observation need not begin with this one's: refused, not silently misread
    other = Trainer(write_dataset(tmp_path / "other.hdf5", extra=3, env_id="toy/Other-v0"), config, tmp_path / "d.pt")
    with pytest.raises(ValueError, match="cannot widen a.pt .toy/Linear-v0, 5 features. to this dataset's toy/Other-v0"):
        other.start_from(SparseDiffusionPolicy.load(trained.policy_path), "a.pt")


def test_resume_accepts_a_state_written_before_a_config_field_existed(tmp_path):
    data = write_dataset(tmp_path / "toy.hdf5")
    config = PRESETS["tiny"].with_overrides(epochs=2)
    Trainer(data, config, tmp_path / "a.pt").train(progress=False, max_epochs=1)
    state_path = tmp_path / "a_run" / "state.pt"
    state = torch.load(state_path, weights_only=True)
    del state["config"]["obs_range_eps"]  # as saved by an older tts_gym
    torch.save(state, state_path)
    assert Trainer(data, config, tmp_path / "a.pt").try_resume()
    with pytest.raises(ValueError, match="obs_range_eps"):
        Trainer(data, config.with_overrides(obs_range_eps=0.5), tmp_path / "a.pt").try_resume()


def test_obs_range_eps_reaches_the_saved_normalizer(tmp_path):
    data = write_dataset(tmp_path / "toy.hdf5")  # observation dims span about 1 unit
    held = Trainer(data, PRESETS["tiny"].with_overrides(obs_range_eps=100.0), tmp_path / "a.pt")
    stretched = Trainer(data, PRESETS["tiny"], tmp_path / "b.pt")
    np.testing.assert_allclose(held.normalizer["obs"].scale.numpy(), 1.0)
    assert (stretched.normalizer["obs"].scale.numpy() != 1.0).all()
    with pytest.raises(ValueError, match="obs_range_eps must be >= 0"):
        PRESETS["tiny"].with_overrides(obs_range_eps=-1.0)


def test_several_datasets_train_together_and_must_agree(tmp_path):
    from tts_gym.data import DatasetError

    demos = write_dataset(tmp_path / "demos.hdf5", episodes=4)
    dagger = write_dataset(tmp_path / "dagger.hdf5", episodes=3, seed=1)
    config = PRESETS["tiny"].with_overrides(epochs=1, val_ratio=0.0)
    trainer = Trainer([demos, dagger], config, tmp_path / "policy.pt")
    assert len(trainer.train_set) == len(Trainer(demos, config, tmp_path / "a.pt").train_set) + len(
        Trainer(dagger, config, tmp_path / "b.pt").train_set)
    trainer.train(progress=False)
    assert SparseDiffusionPolicy.load(tmp_path / "policy.pt").metadata["dataset"] == f"{demos}, {dagger}"

    other = tmp_path / "other.hdf5"
    with RobomimicWriter(other, (("object", 3), ("robot0_eef_pos", 3)), {"env_id": "toy/Linear-v0"}) as writer:
        writer.add_episode(np.zeros((30, 6), np.float32), np.zeros((30, 2), np.float32), seed=0)
    with pytest.raises(DatasetError, match="does not match"):
        Trainer([demos, other], config, tmp_path / "c.pt")
    with pytest.raises(ValueError, match="no dataset given"):
        Trainer([], config, tmp_path / "d.pt")
