"""A diffusion_policy workspace checkpoint (low-dim transformer policy) as a tts_gym policy, exactly.

Works on the unpickled payload as plain data: ``{"cfg": config, "state_dicts": {"model": ...,
"ema_model": ...}}``, the config a nested dict or an OmegaConf ``DictConfig``. Reading the file (which
unpickles it) is ``dp_import_cli``'s job. Everything the converted policy computes must be what
diffusion_policy computes with the same checkpoint, so any setting tts_gym does not reproduce is
refused by name rather than approximated.
"""
from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import diffusers
import torch

from ..backbone.compat import load_transformer_state_dict
from ..backbone.config import BackboneConfig
from ..backbone.model import DiffusionTransformer
from ..backbone.sampler import SamplerConfig
from ..data.normalizer import FieldNormalizer, Normalizer
from .config import PolicyConfig
from .policy import SparseDiffusionPolicy

# --weights -> the workspace attribute whose state dict holds them (diffusion_policy evaluates the EMA).
WEIGHTS = {"ema": "ema_model", "model": "model"}
POLICY_CLASS = "DiffusionTransformerLowdimPolicy"
# Settings DP-T reproduces: (config path, required value, diffusion_policy's value when absent, why).
REQUIRED_SETTINGS = (
    ("policy.obs_as_cond", True, False, "observations enter as the transformer's condition"),
    ("policy.pred_action_steps_only", False, False, "the model predicts the whole horizon"),
    ("policy.model.time_as_cond", True, True, "the diffusion step is a condition token"),
    ("policy.model.n_cond_layers", 0, 0, "the condition encoder is the token-wise MLP"),
    ("n_latency_steps", 0, 0, "actions are executed from the last observed step on"),
)
# BackboneConfig field -> where the workspace config keeps it.
BACKBONE_FIELDS = {
    "action_dim": "policy.action_dim", "obs_dim": "policy.obs_dim", "horizon": "policy.horizon",
    "n_obs_steps": "policy.n_obs_steps", "n_layer": "policy.model.n_layer", "n_head": "policy.model.n_head",
    "n_emb": "policy.model.n_emb", "p_drop_emb": "policy.model.p_drop_emb",
    "p_drop_attn": "policy.model.p_drop_attn", "causal_attn": "policy.model.causal_attn",
}
# The diffusers schedulers diffusion_policy names, and the tts_gym sampler of each.
SCHEDULER_SAMPLERS = {"DDPMScheduler": "ddpm", "DDIMScheduler": "ddim", "DPMSolverMultistepScheduler": "dpm"}
# What the weights were trained under: whichever sampler runs them must agree on these.
TRAINED_SETTINGS = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas",
                    "prediction_type")
# diffusion_policy's LinearNormalizer keeps ``normalized = x * scale + offset`` per field, under these names.
NORMALIZER_PREFIX = "normalizer.params_dict."
NORMALIZER_STATS = {"scale": "scale", "offset": "offset", "data_min": "input_stats.min",
                    "data_max": "input_stats.max"}
_ABSENT = object()


class DPImportError(ValueError):
    """A checkpoint tts_gym cannot reproduce exactly; says what was found and what was expected."""


def plain_config(cfg: Any) -> dict:
    """The workspace config as nested dicts: an OmegaConf config is converted (its interpolations resolved)."""
    if type(cfg).__module__.split(".")[0] == "omegaconf":
        from omegaconf import OmegaConf  # present: it unpickled the config
        from omegaconf.errors import OmegaConfBaseException

        try:
            return OmegaConf.to_container(cfg, resolve=True)
        except OmegaConfBaseException as error:  # diffusion_policy's train.py saves it resolved; this one is not
            raise DPImportError(f"the checkpoint's config does not resolve outside diffusion_policy: {error}") \
                from error
    if isinstance(cfg, Mapping):
        return dict(cfg)
    raise DPImportError(f"the checkpoint's cfg is a {type(cfg).__name__}; expected a dict or an OmegaConf config")


def setting(cfg: Mapping, path: str, default: Any = _ABSENT) -> Any:
    """``cfg``'s value at a dotted ``path``; ``default`` when absent, else an error naming the path."""
    node: Any = cfg
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            if default is _ABSENT:
                raise DPImportError(f"the checkpoint's config has no {path}")
            return default
        node = node[part]
    return node


def check_supported(cfg: Mapping) -> None:
    """Refuses another policy class or a variant of the transformer policy DP-T does not compute."""
    target = str(setting(cfg, "policy._target_", ""))
    if target.rpartition(".")[2] != POLICY_CLASS:
        raise DPImportError(f"the checkpoint's policy is {target or 'unnamed'}; tts_gym imports {POLICY_CLASS} "
                            "(low-dim observations, transformer denoiser)")
    for path, required, absent, why in REQUIRED_SETTINGS:
        value = setting(cfg, path, absent)
        if value != required:
            raise DPImportError(f"{path} is {value!r}; tts_gym needs {required!r} ({why})")


def backbone_config(cfg: Mapping) -> BackboneConfig:
    return BackboneConfig(**{name: setting(cfg, path) for name, path in BACKBONE_FIELDS.items()})


def sampler_config(cfg: Mapping, sampler: str | None = None, steps: int | None = None) -> SamplerConfig:
    """The checkpoint's noise scheduler as a tts_gym sampler, or ``sampler`` / ``steps`` instead.

    Its own sampler must agree with the checkpoint's scheduler on every setting; another sampler on
    what the weights were trained under (``TRAINED_SETTINGS``).
    """
    settings = dict(setting(cfg, "policy.noise_scheduler"))
    target = str(settings.pop("_target_", ""))
    class_name = target.rpartition(".")[2]
    if class_name not in SCHEDULER_SAMPLERS:
        raise DPImportError(f"the checkpoint's noise scheduler is {target!r}; expected one of "
                            f"{sorted(SCHEDULER_SAMPLERS)} (diffusers)")
    scheduler_class = getattr(diffusers, class_name)
    unknown = sorted(set(settings) - set(inspect.signature(scheduler_class.__init__).parameters))
    if unknown:
        raise DPImportError(f"policy.noise_scheduler sets {unknown}, which this diffusers' {class_name} does not take")
    theirs = scheduler_class.from_config(settings).config
    name = sampler or SCHEDULER_SAMPLERS[class_name]
    num_steps = steps or setting(cfg, "policy.num_inference_steps", None) or theirs["num_train_timesteps"]
    try:
        config = SamplerConfig(name, num_steps, theirs["num_train_timesteps"], theirs["beta_schedule"],
                               theirs.get("clip_sample", True), theirs["prediction_type"])
    except ValueError as error:
        raise DPImportError(f"the checkpoint's sampling ({class_name}, {num_steps} steps) cannot run here: {error}; "
                            "choose a sampler with --sampler / --steps") from error
    ours = config.make_scheduler().config
    compared = [key for key in ours if not key.startswith("_")] if name == SCHEDULER_SAMPLERS[class_name] \
        else TRAINED_SETTINGS
    differing = {key: (theirs.get(key), ours.get(key)) for key in compared if theirs.get(key) != ours.get(key)}
    if differing:
        raise DPImportError(f"tts_gym's {name} sampler would differ from the checkpoint's {class_name}: " + ", ".join(
            f"{key} {mine!r} where the checkpoint has {its!r}" for key, (its, mine) in differing.items()))
    return config


def policy_state(state_dicts: Mapping, weights: str) -> Mapping[str, torch.Tensor]:
    """The policy state dict of ``weights`` (``ema`` or ``model``) from a workspace's ``state_dicts``."""
    if weights not in WEIGHTS:
        raise DPImportError(f"weights must be one of {sorted(WEIGHTS)}, got {weights!r}")
    key = WEIGHTS[weights]
    if key not in state_dicts:
        other = "model" if weights == "ema" else "ema"
        raise DPImportError(f"the checkpoint holds no {key!r} weights (it has {sorted(state_dicts)}); "
                            f"try --weights {other}")
    return state_dicts[key]


def normalizer_from_dp(state: Mapping[str, torch.Tensor], sizes: Mapping[str, int]) -> Normalizer:
    """diffusion_policy's ``LinearNormalizer`` fields (``x * scale + offset``) as tts_gym's, one value per dim."""
    fields = {}
    for field, size in sizes.items():
        stats = {}
        for stat, key in NORMALIZER_STATS.items():
            name = f"{NORMALIZER_PREFIX}{field}.{key}"
            if name not in state:
                raise DPImportError(f"the checkpoint's policy has no {name} (its normalizer is not fitted?)")
            value = torch.as_tensor(state[name], dtype=torch.float32).reshape(-1)
            if value.numel() not in (1, size):
                raise DPImportError(f"{name} has {value.numel()} values; expected {size} (one per {field} dim) or 1")
            stats[stat] = value.expand(size).clone()
        fields[field] = FieldNormalizer(**stats)
    return Normalizer(fields)


def convert_workspace(payload: Any, weights: str = "ema", env_id: str | None = None, sampler: str | None = None,
                      steps: int | None = None, source: str = "") -> SparseDiffusionPolicy:
    """The dense tts_gym policy of a workspace checkpoint's payload (see the module docstring); ``source``
    (the checkpoint's name) is recorded in its metadata."""
    if not isinstance(payload, Mapping) or not {"cfg", "state_dicts"} <= set(payload):
        raise DPImportError("not a diffusion_policy workspace checkpoint: expected a dict with 'cfg' and 'state_dicts'")
    cfg = plain_config(payload["cfg"])
    check_supported(cfg)
    config = PolicyConfig(backbone_config(cfg), sampler_config(cfg, sampler, steps),
                          n_action_steps=setting(cfg, "policy.n_action_steps"), env_id=env_id)
    state = policy_state(payload["state_dicts"], weights)
    model = DiffusionTransformer(config.backbone)
    load_transformer_state_dict(model, state)
    b = config.backbone
    policy = SparseDiffusionPolicy(model, normalizer_from_dp(state, {"obs": b.obs_dim, "action": b.action_dim}), config)
    policy.metadata = {"imported_from": {
        "format": "diffusion_policy workspace", "checkpoint": source, "weights": weights,
        "task": str(cfg.get("task_name", "")), "experiment": str(cfg.get("name", "")),
    }}
    return policy
