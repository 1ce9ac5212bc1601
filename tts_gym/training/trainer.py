"""Dense DP-T training: epsilon-prediction DDPM loss, AdamW, cosine with warm-up, EMA, resumable.

Every epoch writes the full training state (``state.pt``: weights, EMA, optimiser, schedule, RNG)
and the EMA policy checkpoint, so a run killed at any point resumes from its last epoch and always
leaves a usable policy behind.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..backbone.config import BackboneConfig
from ..files import save_torch, write_csv
from ..backbone.model import DiffusionTransformer, widen_observation
from ..data import DatasetError, Episode, Normalizer, WindowDataset, load_episodes, read_env_args, split_episodes
from ..envs.registration import observation_extends
from ..policy.config import PolicyConfig
from ..policy.policy import SparseDiffusionPolicy
from .config import TrainConfig
from .ema import EMA

STATE_FILE = "state.pt"
LOG_FILE = "log.csv"
NO_DECAY_PARAMETERS = ("pos_emb", "cond_pos_emb")  # learned position embeddings, as in DP


@dataclass
class TrainResult:
    policy_path: Path
    epochs: int
    train_loss: float
    val_loss: float | None
    seconds: float


Layout = tuple[tuple[tuple[str, int], ...], Union[str, None]]  # (obs keys with sizes, env id)


def dataset_layout(path: str | os.PathLike, obs_dim: int) -> Layout:
    """The (key, size) observation layout and env id a collected file records (empty for others)."""
    env_args = read_env_args(path)
    keys = tuple((str(k), int(n)) for k, n in env_args.get("obs_keys", ()))
    if sum(n for _, n in keys) != obs_dim:
        keys = ()
    return keys, env_args.get("env_id") or env_args.get("env_name")


DatasetPaths = Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]]


def load_datasets(paths: DatasetPaths) -> tuple[list[Path], list[Episode], Layout]:
    """The episodes of one file or of several (e.g. expert demos and DAgger rounds), and the
    (obs keys, env id) layout they record. The files must agree on observation and action sizes
    and on that layout; within a file, :class:`WindowDataset` checks the sizes."""
    paths = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
    if not paths:
        raise ValueError("no dataset given")
    episodes, expected = [], None
    for path in paths:
        loaded = load_episodes(path)
        obs_dim, action_dim = loaded[0].obs.shape[1], loaded[0].actions.shape[1]
        signature = (obs_dim, action_dim, dataset_layout(path, obs_dim))
        if expected is None:
            expected = signature
        elif signature != expected:
            raise DatasetError(f"{path} does not match {paths[0]}: (observation size, action size, "
                               f"(layout, env)) {signature} against {expected}")
        episodes += loaded
    _, _, layout = expected
    return paths, episodes, layout


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """DP's split: weight decay on matrix weights only; none on biases, norms and position embeddings."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        is_matrix = param.ndim >= 2 and name.split(".")[-1] not in NO_DECAY_PARAMETERS
        (decay if is_matrix else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def cosine_with_warmup(warmup: int, total: int):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def diffusion_loss(model: DiffusionTransformer, batch: dict, normalizer: Normalizer, scheduler,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """MSE between the true and predicted noise at random timesteps (DP's objective)."""
    obs = normalizer.normalize("obs", batch["obs"])
    action = normalizer.normalize("action", batch["action"])
    noise = torch.randn(action.shape, generator=generator)
    timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (len(action),), generator=generator)
    noisy = scheduler.add_noise(action, noise, timesteps)
    return nn.functional.mse_loss(model(noisy, timesteps, obs), noise)


class Trainer:
    def __init__(self, dataset_path: DatasetPaths, config: TrainConfig, out: str | os.PathLike,
                 run_dir: str | os.PathLike | None = None) -> None:
        self.config = config
        self.out = Path(out)
        self.run_dir = Path(run_dir) if run_dir else self.out.with_suffix("").with_name(self.out.stem + "_run")
        torch.manual_seed(config.seed)
        self.dataset_paths, episodes, (obs_keys, env_id) = load_datasets(dataset_path)
        train_eps, val_eps = split_episodes(episodes, config.val_ratio, config.seed)
        shape = config.shape
        window = dict(n_obs_steps=shape.n_obs_steps, horizon=shape.horizon, n_action_steps=shape.n_action_steps)
        self.train_set = WindowDataset(train_eps, **window)
        self.val_set = WindowDataset(val_eps, **window) if val_eps else None
        self.normalizer = WindowDataset(episodes, **window).fit_normalizer(config.obs_range_eps)
        backbone = BackboneConfig(
            action_dim=self.train_set.action_dim, obs_dim=self.train_set.obs_dim, horizon=shape.horizon,
            n_obs_steps=shape.n_obs_steps, n_layer=shape.n_layer, n_head=shape.n_head, n_emb=shape.n_emb,
            p_drop_emb=shape.p_drop_emb, p_drop_attn=shape.p_drop_attn,
        )
        self.policy_config = PolicyConfig(backbone, config.sampler, shape.n_action_steps, obs_keys, env_id)
        self.model = DiffusionTransformer(backbone)
        self.ema = EMA(self.model, config.ema_power, config.ema_max_decay)
        self.optimizer = torch.optim.AdamW(parameter_groups(self.model, config.weight_decay),
                                           lr=config.learning_rate, betas=config.betas)
        self.steps_per_epoch = math.ceil(len(self.train_set) / config.batch_size)
        total = self.steps_per_epoch * config.epochs
        self.lr_schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, cosine_with_warmup(config.warmup_steps, total))
        self.scheduler = config.sampler.make_scheduler()
        self.epoch = 0
        self.history: list[dict] = []
        self.init: str | None = None  # the policy this run was warm-started from, for the record

    def start_from(self, policy: SparseDiffusionPolicy, source: str) -> None:
        """Fine-tune: begin from a trained policy's weights (model and EMA). The normalizer stays this
        dataset's and the schedule starts afresh, so a resumed run needs nothing but its own state.

        A policy that observes fewer features is widened (:func:`widen_observation`) when the
        dataset's env observes the policy's env's observation first (``OBSERVATION_PREFIXES``: e.g.
        ``tts_gym/KitchenEE-v0`` begins with ``tts_gym/Kitchen-v0``'s)."""
        theirs, ours = policy.config.backbone, self.policy_config.backbone
        weights = policy.model.state_dict()
        if theirs.obs_dim < ours.obs_dim and replace(theirs, obs_dim=ours.obs_dim) == ours:
            if not observation_extends(self.policy_config.env_id, policy.config.env_id):
                raise ValueError(f"cannot widen {source} ({policy.config.env_id}, {theirs.obs_dim} features) to "
                                 f"this dataset's {self.policy_config.env_id} ({ours.obs_dim}): that observation does "
                                 "not begin with the policy's (see tts_gym.envs.registration.OBSERVATION_PREFIXES)")
            weights = widen_observation(weights, ours.obs_dim)
            print(f"widening {source}: its {theirs.obs_dim} observation features come first, "
                  f"the {ours.obs_dim - theirs.obs_dim} after them start with zero weight")
        elif theirs != ours:
            raise ValueError(f"cannot start from {source}: its backbone is {theirs}, "
                             f"but this recipe and dataset give {ours}")
        self.model.load_state_dict(weights)
        self.ema.model.load_state_dict(weights)
        self.init = source

    # ------------------------------------------------------------------ state
    def _state(self) -> dict:
        return {
            "config": self.config.to_dict(),
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "lr_schedule": self.lr_schedule.state_dict(),
            "epoch": self.epoch,
            "history": self.history,
            "rng": torch.get_rng_state(),
            "init": self.init,
        }

    def save_state(self) -> None:
        save_torch(self._state(), self.run_dir / STATE_FILE)

    def try_resume(self) -> bool:
        path = self.run_dir / STATE_FILE
        if not path.is_file():
            return False
        state = torch.load(path, map_location="cpu", weights_only=True)
        now = json.loads(json.dumps(self.config.to_dict()))
        # through TrainConfig: a state written before a field existed gets that field's default
        saved = json.loads(json.dumps(TrainConfig(**state["config"]).to_dict()))
        if saved != now:
            changed = {k: (saved.get(k), now[k]) for k in now if saved.get(k) != now[k]}
            raise ValueError(f"{path} was written with another training config (saved, now): {changed}; "
                             "use another --run-dir or --no-resume")
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.lr_schedule.load_state_dict(state["lr_schedule"])
        self.epoch = int(state["epoch"])
        self.history = list(state["history"])
        torch.set_rng_state(state["rng"])
        self.init = state.get("init")
        return True

    # ------------------------------------------------------------------ loops
    def _loader(self, dataset: WindowDataset, shuffle: bool) -> DataLoader:
        generator = torch.Generator().manual_seed(self.config.seed * 1000 + self.epoch)
        return DataLoader(dataset, batch_size=self.config.batch_size, shuffle=shuffle, generator=generator,
                          drop_last=False)

    def validation_loss(self) -> float | None:
        if self.val_set is None:
            return None
        generator = torch.Generator().manual_seed(self.config.seed)  # same noise every epoch: comparable
        losses = []
        with torch.no_grad():
            for batch in self._loader(self.val_set, shuffle=False):
                losses.append(diffusion_loss(self.ema.model, batch, self.normalizer, self.scheduler, generator).item())
        return float(np.mean(losses))

    def train(self, progress: bool = True, max_epochs: int | None = None) -> TrainResult:
        """Train to ``config.epochs``, or for at most ``max_epochs`` more in this call (time-boxed runs)."""
        start = time.perf_counter()
        stop = self.config.epochs if max_epochs is None else min(self.config.epochs, self.epoch + max_epochs)
        total = self.config.epochs * self.steps_per_epoch
        bar = tqdm(total=total, initial=self.epoch * self.steps_per_epoch, disable=not progress,
                   desc="train", unit="step", dynamic_ncols=True)
        train_loss = float("nan")
        while self.epoch < stop:
            self.model.train()
            losses = []
            for batch in self._loader(self.train_set, shuffle=True):
                loss = diffusion_loss(self.model, batch, self.normalizer, self.scheduler)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
                self.optimizer.step()
                self.lr_schedule.step()
                self.ema.update(self.model)
                losses.append(loss.item())
                bar.update(1)
                bar.set_postfix(epoch=self.epoch, loss=f"{np.mean(losses[-50:]):.4f}")
            self.epoch += 1
            train_loss = float(np.mean(losses))
            val_loss = self.validation_loss()
            self.history.append({"epoch": self.epoch, "train_loss": train_loss, "val_loss": val_loss,
                                 "lr": self.lr_schedule.get_last_lr()[0], "seconds": time.perf_counter() - start})
            self._write_log()
            self.save_policy()
            self.save_state()
        bar.close()
        last = self.history[-1] if self.history else {"train_loss": train_loss, "val_loss": None}
        return TrainResult(self.out, self.epoch, last["train_loss"], last["val_loss"], time.perf_counter() - start)

    def _write_log(self) -> None:
        write_csv(self.run_dir / LOG_FILE, self.history)

    def save_policy(self) -> Path:
        policy = SparseDiffusionPolicy(self.ema.model, self.normalizer, self.policy_config)
        metadata = {
            "dataset": ", ".join(map(str, self.dataset_paths)), "train_config": self.config.to_dict(), "epochs": self.epoch,
            "init": self.init,
            "history": self.history[-1:] if self.history else [],
        }
        return policy.save(self.out, metadata=json.loads(json.dumps(metadata)))
