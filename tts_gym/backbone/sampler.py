"""Denoising samplers built on ``diffusers`` schedulers, with a fast path for the affine ones.

DDPM and deterministic DDIM steps are affine in (x0, x_t, eps, z) once x0 is clipped, so their
coefficients are read off the scheduler once per load and each step is four scalar multiply-adds:
no scheduler objects, 0-d tensors or index look-ups in the denoising loop, where at high sparsity
this bookkeeping is a visible share of the whole ``act()``. Other schedulers (DPM-Solver) run
through ``diffusers`` as-is. Tests check the fast path against ``scheduler.step``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

SAMPLERS = ("ddpm", "ddim", "dpm")


@dataclass(frozen=True)
class SamplerConfig:
    """DP's noise scheduler settings plus the sampler used at inference."""

    name: str = "ddpm"
    num_inference_steps: int = 100
    num_train_timesteps: int = 100
    beta_schedule: str = "squaredcos_cap_v2"
    clip_sample: bool = True
    prediction_type: str = "epsilon"

    def __post_init__(self) -> None:
        if self.name not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {self.name!r}")
        if not 1 <= self.num_inference_steps <= self.num_train_timesteps:
            raise ValueError(
                f"num_inference_steps must be in [1, {self.num_train_timesteps}], got {self.num_inference_steps}"
            )
        if self.name == "ddpm" and self.num_inference_steps != self.num_train_timesteps:
            raise ValueError("DDPM samples with every training step; use 'ddim' or 'dpm' for fewer steps")
        if self.prediction_type != "epsilon":
            raise ValueError(f"only epsilon prediction is supported, got {self.prediction_type!r}")

    def make_scheduler(self):
        common = dict(num_train_timesteps=self.num_train_timesteps, beta_schedule=self.beta_schedule,
                      prediction_type=self.prediction_type)
        if self.name == "ddpm":
            scheduler = DDPMScheduler(clip_sample=self.clip_sample, variance_type="fixed_small", **common)
        elif self.name == "ddim":
            scheduler = DDIMScheduler(clip_sample=self.clip_sample, set_alpha_to_one=True, steps_offset=0, **common)
        else:
            scheduler = DPMSolverMultistepScheduler(**common)
        scheduler.set_timesteps(self.num_inference_steps)
        return scheduler


class Sampler:
    """Runs the reverse process one step at a time: ``x = sampler.step(k, eps, x, noise[k])``."""

    def __init__(self, config: SamplerConfig) -> None:
        self.config = config
        self.scheduler = config.make_scheduler()
        self.timesteps = self.scheduler.timesteps.clone().long()
        self.num_steps = int(self.timesteps.numel())
        self.clip = config.clip_sample
        self._coefficients = self._affine_coefficients() if config.name in ("ddpm", "ddim") else None

    @property
    def stochastic(self) -> bool:
        """Whether steps take fresh Gaussian noise (DDPM); the caller supplies it for pairing."""
        return self.config.name == "ddpm"

    def reset(self) -> None:
        """Start a new trajectory (multistep solvers keep a history of model outputs)."""
        if self._coefficients is None:
            self.scheduler = self.config.make_scheduler()

    def _affine_coefficients(self) -> list[tuple[float, float, float, float, float, float]]:
        """Per step: (1/sqrt(ab_t), sqrt(1-ab_t)/sqrt(ab_t), c_x0, c_x, c_eps, noise std)."""
        alphas = self.scheduler.alphas_cumprod.double()
        timesteps = self.timesteps.tolist()
        coefficients = []
        for k, t in enumerate(timesteps):
            prev = timesteps[k + 1] if k + 1 < len(timesteps) else -1
            ab_t = alphas[t]
            ab_prev = alphas[prev] if prev >= 0 else torch.tensor(1.0, dtype=torch.float64)
            to_x0 = (1 / ab_t.sqrt(), (1 - ab_t).sqrt() / ab_t.sqrt())
            if self.config.name == "ddpm":
                beta_t = 1 - ab_t / ab_prev
                c_x0 = ab_prev.sqrt() * beta_t / (1 - ab_t)
                c_x = (ab_t / ab_prev).sqrt() * (1 - ab_prev) / (1 - ab_t)
                variance = torch.clamp((1 - ab_prev) / (1 - ab_t) * beta_t, min=1e-20)
                std = variance.sqrt() if t > 0 else torch.tensor(0.0)
                step = (c_x0, c_x, torch.tensor(0.0), std)
            else:  # deterministic DDIM (eta = 0)
                step = (ab_prev.sqrt(), torch.tensor(0.0), (1 - ab_prev).sqrt(), torch.tensor(0.0))
            coefficients.append(tuple(float(c) for c in (*to_x0, *step)))
        return coefficients

    def step(self, k: int, eps: torch.Tensor, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Denoise ``x`` from step ``k`` to ``k + 1`` given the predicted noise ``eps``."""
        if self._coefficients is None:
            return self.scheduler.step(eps, self.timesteps[k], x).prev_sample
        inv_sqrt_ab, eps_scale, c_x0, c_x, c_eps, std = self._coefficients[k]
        x0 = x * inv_sqrt_ab - eps * eps_scale
        if self.clip:
            x0 = x0.clamp(-1.0, 1.0)
        out = x0 * c_x0
        if c_x:
            out = out + x * c_x
        if c_eps:
            out = out + eps * c_eps
        if std:
            if noise is None:
                raise ValueError(f"step {k} of {self.config.name} needs per-step noise, got None")
            out = out + noise * std
        return out
