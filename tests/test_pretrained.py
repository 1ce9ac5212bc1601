"""The shipped files load with no network, list their recipe, and refuse variants that were not shipped."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import tts_gym
from tts_gym import SparseDiffusionPolicy
from tts_gym.evaluation.evaluate import load_variant
from tts_gym.sparsity.pruner import STRATEGIES
from tts_gym.zoo import DEFAULT_SAMPLER, DEFAULT_STEPS, HERE, variant_strategy

SHIPPED = tts_gym.pretrained()
ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not SHIPPED, reason="no shipped policies in this checkout")


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_policy_loads_and_acts(name):
    entry = SHIPPED[name]
    assert entry["recipe"] and (HERE / entry["file"]).stat().st_size <= 10 * 2**20
    policy = SparseDiffusionPolicy.from_pretrained(name, sampler="ddim", steps=4)
    action = policy.act(np.zeros(policy.config.backbone.obs_dim, np.float32))
    assert action.shape == (policy.config.backbone.action_dim,) and np.isfinite(action).all()
    for variant in entry.get("variants", []):
        strategy = variant_strategy(variant)
        sparse = SparseDiffusionPolicy.from_pretrained(name, sparsity=variant["sparsity"], sampler=variant["sampler"],
                                                       steps=variant["steps"], strategy=strategy)
        assert sparse.planner.name == ("pruner" if strategy in STRATEGIES else "fixed")  # frozen and tail: static
        assert sparse.config.sampler.num_inference_steps == variant["steps"]
        # the entry's inference choices are the file's, and a pruner variant runs under them
        assert sparse.config.temperature == policy.config.temperature == entry.get("temperature", 1.0)
        # a pruner without a weights digest would load into any retrained policy of the same shape
        assert torch.load(HERE / variant["file"], weights_only=True)["weights"] == policy.weights_digest()


def test_load_variant_overrides_the_shipped_temperature_only_when_asked():
    name = sorted(SHIPPED)[0]
    shipped = SparseDiffusionPolicy.from_pretrained(name).config.temperature
    assert load_variant(name).config.temperature == shipped
    assert load_variant(name, sampler="ddim", steps=4, temperature=0.25).config.temperature == 0.25


def test_unshipped_variant_lists_the_shipped_ones():
    name = sorted(SHIPPED)[0]
    with pytest.raises(ValueError, match="shipped"):
        SparseDiffusionPolicy.from_pretrained(name, sparsity=0.5, sampler="ddim", steps=7)
    with pytest.raises(ValueError, match="shipped"):
        SparseDiffusionPolicy.from_pretrained("no-such-policy")


@pytest.mark.slow
@pytest.mark.skipif("kitchen" not in SHIPPED, reason="kitchen policy not shipped")
def test_rollout_kitchen_example_short_mode(tmp_path):
    variants = SHIPPED["kitchen"].get("variants", [])
    ddim = [v for v in variants if v["sampler"] == "ddim"]
    flags = ["--sparsity", str(ddim[0]["sparsity"]), "--strategy", variant_strategy(ddim[0]), "--sampler", "ddim",
             "--steps", str(ddim[0]["steps"])] if ddim \
        else ["--sparsity", "0", "--sampler", "ddim", "--steps", "16"]
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "rollout_kitchen.py"), "--episodes", "1",
                           "--max-steps", "24", "--out", str(tmp_path), *flags],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "faster" in done.stdout and (tmp_path / "masks.png").is_file() and list(tmp_path.glob("rollout_*.mp4"))


def _shipped_default_sampler_pruner(name):
    """The examples load pruners under the default sampler; test with one the zoo ships, or dense."""
    variants = SHIPPED.get(name, {}).get("variants", [])
    found = [v for v in variants if (v["sampler"], v["steps"]) == (DEFAULT_SAMPLER, DEFAULT_STEPS)]
    return ["--sparsity", str(found[0]["sparsity"])] if found else []


LIFT_PRUNER = _shipped_default_sampler_pruner("lift")


@pytest.mark.slow
@pytest.mark.skipif("lift" not in SHIPPED, reason="lift policy not shipped")
@pytest.mark.parametrize("script, flags, expect", [
    ("own_loop.py", ["--episodes", "1", "--max-steps", "80"], "episode 0:"),
    ("vector_rollout.py", ["--envs", "2", "--steps", "16", *LIFT_PRUNER], "2 envs, 16 steps"),
    ("sb3_evaluate.py", ["--envs", "2", "--episodes", "2", *LIFT_PRUNER, "--max-steps", "60"], "mean reward"),
])
def test_lift_examples_short_mode(script, flags, expect):
    done = subprocess.run([sys.executable, str(ROOT / "examples" / script), *flags],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert expect in done.stdout
