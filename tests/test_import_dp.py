"""Importing diffusion_policy's own checkpoints: the loader, ``tts-gym import-dp`` and what runs on its file.

No diffusion_policy here: ``DPTransformer`` recomputes ``TransformerForDiffusion`` (obs as condition,
``n_cond_layers=0``) from torch's own decoder under diffusion_policy's parameter names, and the
workspace checkpoint is written with plain ``torch.save`` of dicts, as diffusion_policy lays it out.
"""
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler
from torch import nn

from tts_gym import SparseDiffusionPolicy
from tts_gym.backbone import BackboneConfig, CheckpointMismatchError, DiffusionTransformer, load_transformer_state_dict
from tts_gym.cli import main
from tts_gym.policy.dp_import import DPImportError, convert_workspace

from helpers import ACTION_DIM, OBS_DIM, TinyEnv, randomize

LAYERS, WIDTH, HEADS, TO, TP, TA = 2, 64, 4, 4, 16, 8
POLICY_TARGET = "diffusion_policy.policy.diffusion_transformer_lowdim_policy.DiffusionTransformerLowdimPolicy"
DDIM_TARGET = "diffusers.schedulers.scheduling_ddim.DDIMScheduler"
TINY_ID = "tts_gym_tests/TinyImported-v0"
if TINY_ID not in gym.registry:
    gym.register(TINY_ID, entry_point=lambda **kw: TinyEnv(length=10, **kw))


class DPTransformer(nn.Module):
    """``TransformerForDiffusion``'s state dict and forward, written from torch's layers (the reference)."""

    def __init__(self, width: int = WIDTH) -> None:
        super().__init__()
        self._dummy_variable = nn.Parameter()  # ModuleAttrMixin's
        self.input_emb = nn.Linear(ACTION_DIM, width)
        self.pos_emb = nn.Parameter(torch.zeros(1, TP, width))
        self.cond_obs_emb = nn.Linear(OBS_DIM, width)
        self.cond_pos_emb = nn.Parameter(torch.zeros(1, 1 + TO, width))
        self.encoder = nn.Sequential(nn.Linear(width, 4 * width), nn.Mish(), nn.Linear(4 * width, width))
        layer = nn.TransformerDecoderLayer(width, HEADS, 4 * width, 0.0, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.decoder = nn.TransformerDecoder(layer, LAYERS)
        self.ln_f = nn.LayerNorm(width)
        self.head = nn.Linear(width, ACTION_DIM)
        steps, tokens = torch.arange(TP)[:, None], torch.arange(1 + TO)[None, :]
        self.register_buffer("mask", torch.zeros(TP, TP).masked_fill(steps < steps.T, -math.inf))
        self.register_buffer("memory_mask", torch.zeros(TP, 1 + TO).masked_fill(steps < tokens - 1, -math.inf))

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        half = self.pos_emb.shape[-1] // 2
        freqs = torch.exp(-math.log(10000) / (half - 1) * torch.arange(half))
        angle = timestep.float().reshape(-1).expand(len(sample))[:, None] * freqs
        time = torch.cat([angle.sin(), angle.cos()], dim=-1)[:, None]
        memory = self.encoder(torch.cat([time, self.cond_obs_emb(cond)], dim=1) + self.cond_pos_emb)
        x = self.decoder(self.input_emb(sample) + self.pos_emb, memory, tgt_mask=self.mask,
                         memory_mask=self.memory_mask)
        return self.head(self.ln_f(x))


def affine_stats(size: int, seed: int) -> dict[str, torch.Tensor]:
    """A fitted LinearNormalizer field: scale, offset and input stats, as diffusion_policy names them."""
    generator = torch.Generator().manual_seed(seed)
    low = torch.randn(size, generator=generator)
    high = low + torch.rand(size, generator=generator) + 0.1
    scale = 2 / (high - low)
    return {"scale": scale, "offset": -1 - scale * low, "input_stats.min": low, "input_stats.max": high,
            "input_stats.mean": (low + high) / 2, "input_stats.std": high - low}


def dp_policy_state(model: DPTransformer) -> dict[str, torch.Tensor]:
    """A ``DiffusionTransformerLowdimPolicy`` state dict around ``model``."""
    state = {"_dummy_variable": torch.empty(0), "mask_generator._dummy_variable": torch.empty(0)}
    state.update({f"model.{key}": value for key, value in model.state_dict().items()})
    for field, size, seed in (("obs", OBS_DIM, 1), ("action", ACTION_DIM, 2)):
        state.update({f"normalizer.params_dict.{field}.{k}": v for k, v in affine_stats(size, seed).items()})
    return state


def dp_config(**scheduler) -> dict:
    """A resolved workspace config of the low-dim transformer policy (DDIM, 10 of 100 steps by default)."""
    noise_scheduler = {"_target_": DDIM_TARGET, "num_train_timesteps": 100, "beta_start": 0.0001, "beta_end": 0.02,
                       "beta_schedule": "squaredcos_cap_v2", "clip_sample": True, "set_alpha_to_one": True,
                       "steps_offset": 0, "prediction_type": "epsilon", **scheduler}
    model = {"_target_": "diffusion_policy.model.diffusion.transformer_for_diffusion.TransformerForDiffusion",
             "input_dim": ACTION_DIM, "output_dim": ACTION_DIM, "horizon": TP, "n_obs_steps": TO, "cond_dim": OBS_DIM,
             "n_layer": LAYERS, "n_head": HEADS, "n_emb": WIDTH, "p_drop_emb": 0.0, "p_drop_attn": 0.3,
             "causal_attn": True, "time_as_cond": True, "obs_as_cond": True, "n_cond_layers": 0}
    policy = {"_target_": POLICY_TARGET, "model": model, "noise_scheduler": noise_scheduler, "horizon": TP,
              "obs_dim": OBS_DIM, "action_dim": ACTION_DIM, "n_action_steps": TA, "n_obs_steps": TO,
              "num_inference_steps": 10, "obs_as_cond": True, "pred_action_steps_only": False}
    return {"name": "train_diffusion_transformer_lowdim", "task_name": "tiny_lowdim", "horizon": TP,
            "n_obs_steps": TO, "n_action_steps": TA, "n_latency_steps": 0, "policy": policy,
            "training": {"use_ema": True}}


def workspace(cfg: dict | None = None, width: int = WIDTH) -> tuple[dict, DPTransformer, DPTransformer]:
    """A workspace checkpoint's payload and its trained and EMA denoisers."""
    trained, ema = (randomize(DPTransformer(width), seed).eval() for seed in (3, 4))
    payload = {"cfg": cfg or dp_config(),
               "state_dicts": {"model": dp_policy_state(trained), "ema_model": dp_policy_state(ema),
                               "optimizer": {"state": {}, "param_groups": []}},
               "pickles": {"global_step": b"\x80\x04K\x07.", "epoch": b"\x80\x04K\x01."}}
    return payload, trained, ema


def reference_actions(model: DPTransformer, state: dict, cfg: dict, window: torch.Tensor, seed: int) -> torch.Tensor:
    """diffusion_policy's ``predict_action`` with DDIM: normalise, denoise from x_T, unnormalise, slice Ta."""
    def stat(field, name):
        return state[f"normalizer.params_dict.{field}.{name}"]

    cond = window * stat("obs", "scale") + stat("obs", "offset")
    settings = {k: v for k, v in cfg["policy"]["noise_scheduler"].items() if k != "_target_"}
    scheduler = DDIMScheduler(**settings)
    scheduler.set_timesteps(cfg["policy"]["num_inference_steps"])
    x = torch.randn((len(window), TP, ACTION_DIM), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        for t in scheduler.timesteps:
            x = scheduler.step(model(x, t, cond), t, x).prev_sample
    actions = (x - stat("action", "offset")) / stat("action", "scale")
    return actions[:, TO - 1: TO - 1 + TA]


def import_dp(tmp_path, payload, *flags, name="latest.ckpt") -> tuple[int, object]:
    checkpoint, out = tmp_path / name, tmp_path / "imported.pt"
    torch.save(payload, checkpoint)
    return main(["import-dp", str(checkpoint), "--out", str(out), *flags]), out


def test_loader_takes_a_state_dict_as_diffusion_policy_saves_it():
    reference = randomize(DPTransformer(), seed=1).eval()
    config = BackboneConfig(ACTION_DIM, OBS_DIM, TP, TO, LAYERS, HEADS, WIDTH, p_drop_attn=0.0)
    ours = DiffusionTransformer(config).eval()
    load_transformer_state_dict(ours, reference.state_dict())  # bare, with _dummy_variable and the masks
    sample, cond = torch.randn(2, TP, ACTION_DIM), torch.randn(2, TO, OBS_DIM)
    with torch.no_grad():
        for t in (0, 37, 99):
            torch.testing.assert_close(ours(sample, torch.tensor(t), cond), reference(sample, torch.tensor(t), cond),
                                       atol=1e-5, rtol=1e-5)
    stray = {**reference.state_dict(), "decoder.layers.2.norm1.weight": torch.ones(WIDTH)}
    with pytest.raises(CheckpointMismatchError, match=r"unexpected=\['decoder.layers.2.norm1.weight'\]"):
        load_transformer_state_dict(ours, stray)


def test_imported_policy_acts_as_diffusion_policy_computes(tmp_path):
    payload, trained, ema = workspace()
    code, out = import_dp(tmp_path, payload, "--trust-pickle", "--env", TINY_ID)
    assert code == 0
    policy = SparseDiffusionPolicy.load(out)  # weights-only, like every tts_gym file
    config = policy.config
    assert (config.backbone.n_layer, config.backbone.n_emb, config.backbone.n_obs_steps, config.backbone.horizon,
            config.n_action_steps, config.env_id) == (LAYERS, WIDTH, TO, TP, TA, TINY_ID)
    assert (config.sampler.name, config.sampler.num_inference_steps) == ("ddim", 10)
    assert policy.metadata["imported_from"]["weights"] == "ema"
    window = torch.randn(3, TO, OBS_DIM) * 2
    actions = policy.predict_action_chunk(window.numpy(), generator=torch.Generator().manual_seed(7))
    expected = reference_actions(ema, payload["state_dicts"]["ema_model"], payload["cfg"], window, seed=7)
    np.testing.assert_allclose(actions, expected.numpy(), atol=1e-4, rtol=1e-4)
    state = payload["state_dicts"]["ema_model"]
    for field in ("obs", "action"):
        scale, offset = (state[f"normalizer.params_dict.{field}.{k}"] for k in ("scale", "offset"))
        x = torch.randn(4, len(scale))
        assert torch.equal(policy.normalizer.normalize(field, x), x * scale + offset)
        assert torch.equal(policy.normalizer.unnormalize(field, x), (x - offset) / scale)


def test_trained_weights_on_request_and_a_clear_error_without_ema(tmp_path):
    payload, trained, _ = workspace()
    policy = convert_workspace(payload, weights="model")
    assert torch.equal(policy.model.state_dict()["head.weight"], trained.state_dict()["head.weight"])
    del payload["state_dicts"]["ema_model"]
    with pytest.raises(DPImportError, match="no 'ema_model' weights.*--weights model"):
        convert_workspace(payload)


def test_a_checkpoint_of_other_shapes_than_its_config_is_refused_by_name(tmp_path, capsys):
    payload, _, _ = workspace(width=32)  # weights of n_emb 32 under a config saying 64
    code, out = import_dp(tmp_path, payload, "--trust-pickle")
    assert code == 1 and not out.exists()
    assert "misshaped=['pos_emb: checkpoint (1, 16, 32) vs model (1, 16, 64)'" in capsys.readouterr().err


def test_reading_a_workspace_checkpoint_needs_trust(tmp_path, capsys):
    code, out = import_dp(tmp_path, workspace()[0])
    assert code == 1 and not out.exists()
    assert "--trust-pickle" in capsys.readouterr().err


@pytest.mark.parametrize("path, value, message", [
    ("policy.model.n_cond_layers", 2, "n_cond_layers is 2; tts_gym needs 0"),
    ("policy.obs_as_cond", False, "obs_as_cond is False; tts_gym needs True"),
    ("policy._target_", "diffusion_policy.policy.diffusion_unet_lowdim_policy.DiffusionUnetLowdimPolicy",
     "imports DiffusionTransformerLowdimPolicy"),
    ("policy.noise_scheduler.steps_offset", 1, "steps_offset 0 where the checkpoint has 1"),
    ("policy.noise_scheduler.thresholding_ratio", 0.9, "does not take"),
])
def test_settings_tts_gym_does_not_reproduce_are_refused_by_name(path, value, message):
    payload, _, _ = workspace()
    *parents, last = path.split(".")
    node = payload["cfg"]
    for part in parents:
        node = node[part]
    node[last] = value
    with pytest.raises(DPImportError, match=message):
        convert_workspace(payload)


def test_ddpm_checkpoint_keeps_its_sampler_or_takes_another():
    ddpm = dict(_target_="diffusers.schedulers.scheduling_ddpm.DDPMScheduler", variance_type="fixed_small")
    cfg = dp_config(**ddpm)
    cfg["policy"]["noise_scheduler"] = {k: v for k, v in cfg["policy"]["noise_scheduler"].items()
                                        if k not in ("set_alpha_to_one", "steps_offset")}
    cfg["policy"]["num_inference_steps"] = None  # diffusion_policy: every training step
    sampler = convert_workspace(workspace(cfg)[0]).config.sampler
    assert (sampler.name, sampler.num_inference_steps, sampler.beta_schedule) == ("ddpm", 100, "squaredcos_cap_v2")
    cfg["policy"]["num_inference_steps"] = 16
    with pytest.raises(DPImportError, match="--sampler"):
        convert_workspace(workspace(cfg)[0])
    assert convert_workspace(workspace(cfg)[0], sampler="ddim", steps=16).config.sampler.num_inference_steps == 16
    cfg["policy"]["noise_scheduler"]["beta_end"] = 0.05
    cfg["policy"]["noise_scheduler"]["beta_schedule"] = "linear"
    with pytest.raises(DPImportError, match="beta_end 0.02 where the checkpoint has 0.05"):
        convert_workspace(workspace(cfg)[0], sampler="ddim", steps=16)


def test_a_checkpoint_as_diffusion_policy_pickles_it(tmp_path):
    """dill and an OmegaConf config, as diffusion_policy's workspace writes them (with the ``dp`` extra)."""
    dill = pytest.importorskip("dill")
    omegaconf = pytest.importorskip("omegaconf")
    payload, _, ema = workspace()
    payload["cfg"] = omegaconf.OmegaConf.create(payload["cfg"])
    checkpoint = tmp_path / "epoch=0100.ckpt"
    with open(checkpoint, "wb") as handle:
        torch.save(payload, handle, pickle_module=dill)
    assert main(["import-dp", str(checkpoint), "--out", str(tmp_path / "p.pt"), "--trust-pickle"]) == 0
    policy = SparseDiffusionPolicy.load(tmp_path / "p.pt")
    assert torch.equal(policy.model.state_dict()["head.weight"], ema.state_dict()["head.weight"])
    assert policy.metadata["imported_from"]["checkpoint"] == "epoch=0100.ckpt"


def record_and_train_pruner(tmp_path) -> tuple[str, str, str]:
    """An imported policy file, dense rollouts of it and a pruner trained on them, all by the command line."""
    code, policy_file = import_dp(tmp_path, workspace()[0], "--trust-pickle", "--env", TINY_ID)
    assert code == 0
    policy, rollouts, pruner = str(policy_file), str(tmp_path / "rollouts.h5"), str(tmp_path / "pruner.pt")
    assert main(["record-rollouts", "--policy", policy, "--out", rollouts, "--episodes", "2",
                 "--sampler", "ddim", "--steps", "4"]) == 0
    assert main(["train-pruner", "--policy", policy, "--rollouts", rollouts, "--out", pruner, "--sampler", "ddim",
                 "--steps", "4", "--epochs", "1", "--batch-size", "2", "--segment-frames", "2", "--rho", "0.5"]) == 0
    return policy, rollouts, pruner


def test_record_train_pruner_and_eval_run_on_an_imported_policy(tmp_path):
    policy, _, pruner = record_and_train_pruner(tmp_path)
    assert main(["eval", "--policy", policy, "--planner", pruner, "--episodes", "1",
                 "--out", str(tmp_path / "eval")]) == 0
    assert (tmp_path / "eval" / "summary.json").exists()


def test_record_rollouts_of_a_sparse_policy_says_so_per_rollout(tmp_path):
    """--planner records the pruned policy's own rollouts (DAgger's data) beside dense ones, each
    rollout with the reuse share it was played at."""
    from tts_gym.sparsity.training.trajectories import TrajectoryStore

    policy, rollouts, pruner = record_and_train_pruner(tmp_path)
    assert main(["record-rollouts", "--policy", policy, "--planner", pruner, "--out", rollouts, "--episodes", "2",
                 "--seed-start", "1000"]) == 0
    store = TrajectoryStore(rollouts)
    assert store.seeds() == [0, 1, 1000, 1001] and len(store.load()) == 4
    dense, sparse = store.reuse_shares()[:2], store.reuse_shares()[2:]
    assert dense == [0.0, 0.0] and all(share > 0 for share in sparse)


@pytest.mark.slow
def test_bench_runs_on_an_imported_policy(tmp_path):
    policy, rollouts, pruner = record_and_train_pruner(tmp_path)
    assert main(["bench", "--policy", policy, "--rollouts", rollouts, "--quick", "--episodes", "1",
                 "--pruner", f"tts={pruner}", "--out", str(tmp_path / "bench")]) == 0
    assert "| tts |" in (tmp_path / "bench" / "results.md").read_text()
