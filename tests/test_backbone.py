import pytest
import torch
from torch import nn

from tts_gym.backbone import (
    BackboneConfig, CheckpointMismatchError, DiffusionTransformer, Sampler, SamplerConfig, load_transformer_state_dict,
)

from helpers import randomize, tiny_backbone


def original_key_set(config: BackboneConfig) -> set[str]:
    """The state-dict keys of diffusion_policy's TransformerForDiffusion (obs as cond, n_cond_layers=0)."""
    keys = {"pos_emb", "cond_pos_emb", "mask", "memory_mask"}
    for name in ("input_emb", "cond_obs_emb", "encoder.0", "encoder.2", "ln_f", "head"):
        keys |= {f"{name}.weight", f"{name}.bias"}
    for i in range(config.n_layer):
        layer = f"decoder.layers.{i}"
        for attn in ("self_attn", "multihead_attn"):
            keys |= {f"{layer}.{attn}.in_proj_weight", f"{layer}.{attn}.in_proj_bias",
                     f"{layer}.{attn}.out_proj.weight", f"{layer}.{attn}.out_proj.bias"}
        for name in ("linear1", "linear2", "norm1", "norm2", "norm3"):
            keys |= {f"{layer}.{name}.weight", f"{layer}.{name}.bias"}
    return keys


def test_state_dict_keys_match_original_naming():
    config = tiny_backbone()
    assert set(DiffusionTransformer(config).state_dict()) == original_key_set(config)


def test_loads_original_checkpoint_and_rejects_mismatch():
    config = tiny_backbone()
    source = randomize(DiffusionTransformer(config), seed=1)
    policy_style = {f"model.{k}": v for k, v in source.state_dict().items()}
    target = DiffusionTransformer(config)
    load_transformer_state_dict(target, policy_style)
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value)
    wider = DiffusionTransformer(tiny_backbone(n_emb=64))
    with pytest.raises(CheckpointMismatchError, match="misshaped"):
        load_transformer_state_dict(wider, source.state_dict())
    partial = {k: v for k, v in source.state_dict().items() if "layers.1" not in k}
    with pytest.raises(CheckpointMismatchError, match="missing"):
        load_transformer_state_dict(target, partial)


def test_blocks_equal_pytorch_decoder_layer():
    """Our explicit blocks compute exactly what nn.TransformerDecoder(norm_first) computes."""
    config = tiny_backbone()
    model = randomize(DiffusionTransformer(config)).eval()
    reference = nn.TransformerDecoder(
        nn.TransformerDecoderLayer(config.n_emb, config.n_head, 4 * config.n_emb, 0.0, activation="gelu",
                                   batch_first=True, norm_first=True),
        config.n_layer,
    ).eval()
    reference.load_state_dict({k[len("decoder."):]: v for k, v in model.state_dict().items() if k.startswith("decoder.")})
    x = torch.randn(3, config.horizon, config.n_emb)
    memory = torch.randn(3, config.n_cond_tokens, config.n_emb)
    ours = x
    for j in range(config.n_blocks):
        ours = ours + model.block_residual(j, ours, memory)
    expected = reference(x, memory, tgt_mask=model.mask, memory_mask=model.memory_mask)
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)


def test_condition_for_all_steps_equals_per_step_encoding():
    config = tiny_backbone()
    model = randomize(DiffusionTransformer(config)).eval()
    obs = torch.randn(2, config.n_obs_steps, config.obs_dim)
    timesteps = torch.tensor([9, 5, 0])
    memory = model.encode_condition(obs, timesteps)
    assert memory.shape == (2, 3, config.n_cond_tokens, config.n_emb)
    for k, t in enumerate(timesteps):
        per_step = model.encode_condition_per_row(obs, t.repeat(2))
        torch.testing.assert_close(memory[:, k], per_step)


def test_memory_mask_lets_action_t_see_condition_up_to_t_plus_1():
    model = DiffusionTransformer(tiny_backbone(horizon=4, n_obs_steps=2))
    visible = model.memory_mask == 0
    assert visible.tolist() == [[True, True, False], [True, True, True], [True, True, True], [True, True, True]]


@pytest.mark.parametrize("config", [SamplerConfig(), SamplerConfig("ddim", 16), SamplerConfig("ddim", 10),
                                    SamplerConfig("dpm", 10)])
def test_sampler_matches_diffusers_step(config):
    sampler, scheduler = Sampler(config), config.make_scheduler()
    x = torch.randn(2, 6, 3) * 1.5
    for k in range(sampler.num_steps):
        eps = torch.randn_like(x)
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(k))
        expected = scheduler.step(eps, sampler.timesteps[k], x, generator=torch.Generator().manual_seed(k)).prev_sample
        torch.testing.assert_close(sampler.step(k, eps, x, noise), expected, atol=2e-5, rtol=1e-4)
        x = expected


@pytest.mark.parametrize("bad", [dict(n_emb=30, n_head=4), dict(n_obs_steps=9, horizon=6), dict(n_layer=0)])
def test_backbone_config_is_validated(bad):
    with pytest.raises(ValueError):
        tiny_backbone(**bad)


def test_sampler_config_is_validated():
    with pytest.raises(ValueError, match="DDPM"):
        SamplerConfig("ddpm", 16)
    with pytest.raises(ValueError, match="sampler"):
        SamplerConfig("euler", 16)
