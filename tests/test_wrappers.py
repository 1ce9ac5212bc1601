import json

import gymnasium as gym
import numpy as np
import pytest

from tts_gym.sparsity import FixedPlanner, enforce_warmup
from tts_gym.wrappers import RecordMasks, RecordMaskVideo, TestTimeSparsity, TestTimeSparsityVector
from tts_gym.wrappers import record_masks as record_masks_module
from tts_gym.wrappers.render_masks import render_rollout, render_summary

from helpers import ACTION_DIM, TinyEnv, tiny_policy


def sparse_tiny_policy(seed=0):
    policy = tiny_policy()
    steps, blocks = policy.sampler.num_steps, policy.config.backbone.n_blocks
    plan = np.random.default_rng(seed).integers(0, 4, size=(1, steps, blocks), dtype=np.int8)
    policy.planner = FixedPlanner(enforce_warmup(plan, np.zeros(1, bool))[0])
    return policy


def test_wrapper_resets_the_rollout_cache_on_reset_only():
    env = TestTimeSparsity(TinyEnv(length=9), sparse_tiny_policy())
    for _ in range(2):
        env.reset(seed=0)
        infos = []
        for _ in range(9):
            *_, info = env.step()
            infos.append(info["tts"])
        inferred = [i for i in infos if i["inferred"]]
        assert len(inferred) == 3  # Ta = 4: steps 0, 4, 8
        assert inferred[0]["sparsity"] == 0.0 and all(i["sparsity"] > 0.5 for i in inferred[1:])
        assert inferred[0]["plan"].shape[0] == 1 and "total" in inferred[0]["latency_ms"]


def test_explicit_action_passes_through():
    class Echo(TinyEnv):
        def step(self, action):
            out = super().step(action)
            out[4]["action"] = np.asarray(action)
            return out

    env = TestTimeSparsity(Echo(), tiny_policy())
    env.reset(seed=0)
    action = np.arange(ACTION_DIM, dtype=np.float32)
    *_, info = env.step(action)
    np.testing.assert_array_equal(info["action"], action)
    assert info["tts"]["inferred"] is False
    with pytest.raises(gym.error.ResetNeeded):
        TestTimeSparsity(TinyEnv(), tiny_policy()).step()


def test_vector_env_resets_only_the_env_that_ended():
    envs = gym.vector.SyncVectorEnv([lambda: TinyEnv(length=5), lambda: TinyEnv(length=9)])
    env = TestTimeSparsityVector(envs, sparse_tiny_policy())
    env.reset(seed=0)
    restarted_at = {}
    for t in range(12):
        *_, info = env.step()
        for i in info["tts"]["restarted"]:
            restarted_at.setdefault(int(i), t)
        if t == 5:  # env 0 ended at t=4, returned its reset observation at t=5, and was reset alone
            assert env.policy.cache.fresh_rows(2).tolist() == [True, False]
    assert restarted_at == {0: 5, 1: 9}


def test_record_masks_writes_one_complete_file_per_rollout(tmp_path):
    env = RecordMasks(TestTimeSparsity(TinyEnv(length=9), sparse_tiny_policy()), tmp_path)
    for seed in (3, 4):
        env.reset(seed=seed)
        done = False
        while not done:
            *_, terminated, truncated, _ = env.step()
            done = terminated or truncated
    files = sorted(tmp_path.glob("rollout_*.npz"))
    assert [f.name for f in files] == ["rollout_0000.npz", "rollout_0001.npz"]
    data = np.load(files[1])
    assert data["plans"].shape == (3, 8, 6) and data["plans"].dtype == np.int8
    assert int(data["seed"]) == 4 and bool(data["success"]) and data["inference_steps"].tolist() == [0, 4, 8]
    lines = [json.loads(line) for line in (tmp_path / "rollouts.jsonl").read_text().splitlines()]
    assert [line["seed"] for line in lines] == [3, 4] and lines[0]["inferences"] == 3
    assert not list(tmp_path.glob(".*"))  # no temp files left behind
    render_rollout(files[0], tmp_path / "one.png")
    render_summary(files, tmp_path / "all.png")
    assert (tmp_path / "one.png").stat().st_size > 1000 and (tmp_path / "all.png").stat().st_size > 1000


def test_record_masks_survives_a_failing_disk(tmp_path, monkeypatch, caplog):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(record_masks_module, "write_atomically", full_disk)
    env = RecordMasks(TestTimeSparsity(TinyEnv(length=3), tiny_policy()), tmp_path)
    for seed in range(2):
        env.reset(seed=seed)
        for _ in range(3):
            env.step()
    assert not list(tmp_path.glob("rollout_*.npz"))
    assert sum("could not write" in r.message for r in caplog.records) == 1


def test_mask_video_decodes_with_one_frame_per_step(tmp_path):
    imageio = pytest.importorskip("imageio.v2")
    env = RecordMaskVideo(TestTimeSparsity(TinyEnv(length=6, render_mode="rgb_array"), sparse_tiny_policy()), tmp_path)
    env.reset(seed=0)
    for _ in range(6):
        env.step()
    video = tmp_path / "rollout_0000.mp4"
    frames = imageio.mimread(video)
    assert len(frames) == 7  # the reset frame and one per step
    assert frames[0].shape[0] % 16 == 0 and frames[0].shape[1] % 16 == 0


@pytest.mark.parametrize("fps, expected", [(None, 10), (25, 25)])
def test_mask_video_plays_at_the_env_render_fps_unless_told(tmp_path, fps, expected):
    imageio = pytest.importorskip("imageio.v2")
    inner = TinyEnv(length=2, render_mode="rgb_array")
    inner.metadata = {**inner.metadata, "render_fps": 10}
    env = RecordMaskVideo(TestTimeSparsity(inner, tiny_policy()), tmp_path, fps=fps)
    env.reset(seed=0)
    env.step()
    env.step()
    env.close()
    with imageio.get_reader(tmp_path / "rollout_0000.mp4") as video:
        assert video.get_meta_data()["fps"] == pytest.approx(expected)


def test_mask_video_failure_keeps_the_rollout_going(tmp_path, caplog):
    env = RecordMaskVideo(TestTimeSparsity(TinyEnv(length=4, render_mode="rgb_array"), tiny_policy()), tmp_path)
    env.reset(seed=0)
    env.step()

    class BrokenWriter:
        def append_data(self, frame):
            raise OSError("encoder died")

        def close(self):
            pass

    env._writer = BrokenWriter()
    for _ in range(3):
        env.step()
    assert not list(tmp_path.glob("*.mp4"))
    assert sum("video writing failed" in r.message for r in caplog.records) == 1


def test_wrapper_passes_gymnasium_check_env():
    from gymnasium.utils.env_checker import check_env

    check_env(TestTimeSparsity(TinyEnv(length=9), tiny_policy()), skip_render_check=True)
