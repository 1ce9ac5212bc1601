"""``tts-gym collect``: roll out a scripted expert and store the successful episodes as robomimic HDF5.

Episode ``i`` is reset with seed ``seed_start + i`` and the expert's noise generator is seeded with the
same number, so any demo can be regenerated from its recorded seed. Failed episodes are dropped (and
counted) and collection continues with the next seed until ``episodes`` successes are stored or the
attempt budget is spent. Every stored episode is flushed immediately (see :mod:`robomimic_writer`).

The stored action is the one executed (``labels="executed"``, what a teleoperated dataset holds) or
the expert's action before noise (``labels="clean"``, DART-style: with correlated noise the data then
shows how to return to the expert's path; see :mod:`tts_gym.envs.experts.base`).

With ``driver`` a trained policy executes a share of the action chunks and every step is labelled
with the expert's clean action (DAgger; see :mod:`tts_gym.data.driver`): the demonstrations then
cover the states that policy drifts to. Train on them together with the expert's own demos.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Optional, Sequence

import numpy as np

from tts_gym.data.driver import PolicyDriver
from tts_gym.data.robomimic_writer import RobomimicWriter

DEFAULT_NOISE = 0.1
LABELS = ("executed", "clean")
DEFAULT_DRIVER_SHARE = 0.5
MAX_ATTEMPTS_FACTOR = 2  # give up after this many attempts per requested episode
ROBOMIMIC_ENV_TYPE_ROBOSUITE = 1  # robomimic's EnvType.ROBOSUITE_TYPE
ROBOMIMIC_ENV_TYPE_GYM = 2  # robomimic's EnvType.GYM_TYPE


@dataclass
class CollectResult:
    """Summary of one collection run (also printed by the CLI as JSON)."""

    out: str
    env_id: str
    num_episodes: int
    num_failed: int
    seeds: list[int] = field(default_factory=list)
    failed_seeds: list[int] = field(default_factory=list)
    num_samples: int = 0
    driven_steps: int = 0  # stored steps that a driver policy executed (DAgger)
    seconds: float = 0.0


def _env_args(env, env_id: str, expert_args: dict, seed_start: int, env_kwargs: dict) -> dict:
    unwrapped = env.unwrapped
    task = getattr(unwrapped, "task", None)
    return {
        "env_name": task if task is not None else env_id,
        "type": ROBOMIMIC_ENV_TYPE_ROBOSUITE if task is not None else ROBOMIMIC_ENV_TYPE_GYM,
        "env_id": env_id,
        # robosuite: the kwargs robosuite.make got (robomimic's convention); others: gymnasium.make kwargs
        "env_kwargs": dict(getattr(unwrapped, "env_kwargs", {}), **env_kwargs),
        "expert": expert_args,
        "seed_start": seed_start,
    }


def _check_labels(labels: str, driven: bool = False) -> None:
    if labels not in LABELS:
        raise ValueError(f"labels must be one of {LABELS}, got {labels!r}")
    if driven and labels != "clean":
        raise ValueError("with a driver policy the labels must be 'clean' (the expert's action in the "
                         "states the policy reached); the executed actions would teach the policy itself")


def run_episode(env, expert, seed: int, labels: str = "executed", driver: Optional[PolicyDriver] = None,
                tail_steps: int = 0) -> dict:
    """Roll out one episode; returns arrays (obs, actions, rewards, dones, states) and ``success``.

    ``actions`` holds the executed actions, or with ``labels="clean"`` the expert's noise-free ones.
    With a ``driver`` its policy executes some chunks (then ``labels`` must be ``"clean"``).
    With ``tail_steps`` the episode goes on that many steps after the first success (the env must
    not terminate on success); ``dones`` marks the successful steps.
    """
    _check_labels(labels, driven=driver is not None)
    obs, info = env.reset(seed=seed)
    expert.reset()
    if driver is not None:
        driver.reset(seed)
    unwrapped = env.unwrapped
    get_state = getattr(unwrapped, "get_state", None)
    observations, actions, rewards, dones, states = [], [], [], [], []
    success, steps_after_success = False, 0
    while True:
        if get_state is not None:
            states.append(get_state())
        action = expert.act(obs)
        if driver is not None:
            action = driver.choose(obs, action, expert.stage)
        observations.append(obs)
        actions.append(expert.clean_action if labels == "clean" else action)
        obs, reward, terminated, truncated, info = env.step(action)
        rewards.append(reward)
        succeeded = bool(info.get("success", False))
        dones.append(terminated or succeeded)
        steps_after_success += success
        success = success or succeeded
        if terminated or truncated or (success and steps_after_success >= tail_steps):
            break
    return {
        "obs": np.asarray(observations, np.float32),
        "actions": np.asarray(actions, np.float32),
        "rewards": np.asarray(rewards, np.float32),
        "dones": np.asarray(dones, np.uint8),
        "states": np.asarray(states) if states else None,
        "success": success,
    }


def collect(
    env_id: str,
    episodes: int,
    noise: float,
    out: str,
    seed_start: int = 0,
    max_attempts: Optional[int] = None,
    env_kwargs: Optional[dict] = None,
    progress: bool = True,
    noise_steps: float = 0.0,
    labels: str = "executed",
    driver: Optional[str] = None,
    driver_share: float = DEFAULT_DRIVER_SHARE,
    driver_sampler: Optional[str] = None,
    driver_steps: Optional[int] = None,
    driver_stages: Optional[Sequence[str]] = None,
    tail_steps: int = 0,
) -> CollectResult:
    """Collect ``episodes`` successful expert demonstrations of ``env_id`` into ``out``.

    Args:
        env_id: a registered id (``tts_gym/Kitchen-v0``) or short name (``kitchen``).
        episodes: number of successful episodes to store.
        noise: Gaussian action-noise standard deviation of the expert.
        out: output HDF5 path (overwritten).
        seed_start: seed of the first attempt; attempt ``i`` uses ``seed_start + i``.
        max_attempts: attempt budget (default ``MAX_ATTEMPTS_FACTOR * episodes``).
        env_kwargs: extra ``gymnasium.make`` keyword arguments (recorded in ``env_args``).
        progress: show a tqdm progress bar.
        noise_steps: correlation time of the noise in steps (0: independent each step).
        labels: store the ``"executed"`` (noisy) actions or the expert's ``"clean"`` ones.
        driver: DAgger: a policy (shipped name or checkpoint) that executes ``driver_share`` of the
            chunks, under ``driver_sampler`` / ``driver_steps`` (default: its own); needs clean labels.
        driver_stages: expert stages in which the driver may drive (default: all).
        tail_steps: steps recorded after each episode's first success, the env no longer ending it
            there. A demo that stops at success ends its last training windows in edge padding,
            which for absolute actions (``kitchen-ee-position``) says "hold still": such a policy
            then stops short of the goal. A tail of the horizon (Tp) gives those windows the
            expert's real continuation.
    """
    from tqdm import tqdm

    import tts_gym.envs
    from tts_gym.envs.experts import make_expert

    _check_labels(labels, driven=driver is not None)  # before the output file is opened (and truncated)
    if tail_steps < 0:
        raise ValueError(f"tail_steps must be >= 0, got {tail_steps}")
    env_id = tts_gym.envs.resolve_env_id(env_id)
    expert_args = {"noise": noise, "noise_steps": noise_steps, "labels": labels, "tail_steps": tail_steps}
    policy_driver = None
    if driver is not None:
        from tts_gym.policy.policy import SparseDiffusionPolicy

        policy = SparseDiffusionPolicy.from_pretrained(driver, sampler=driver_sampler, steps=driver_steps)
        if policy.config.env_id is not None and tts_gym.envs.resolve_env_id(policy.config.env_id) != env_id:
            raise ValueError(f"driver {driver} was trained on {policy.config.env_id}, not {env_id}")
        policy_driver = PolicyDriver(policy, driver_share, driver_stages)
        sampler = policy.config.sampler
        expert_args["driver"] = {"policy": str(driver), "share": driver_share, "stages": driver_stages,
                                 "sampler": sampler.name, "steps": sampler.num_inference_steps}
    env_kwargs = dict(env_kwargs or {})
    if tail_steps:
        env_kwargs["terminate_on_success"] = False
    max_attempts = MAX_ATTEMPTS_FACTOR * episodes if max_attempts is None else max_attempts
    env = tts_gym.envs.make_env(env_id, **env_kwargs)
    result = CollectResult(out=str(out), env_id=env_id, num_episodes=0, num_failed=0)
    start_time = time.perf_counter()
    try:
        with RobomimicWriter(out, env.unwrapped.obs_keys, _env_args(env, env_id, expert_args, seed_start, env_kwargs)) as writer:
            bar = tqdm(total=episodes, desc=f"collect {env_id}", unit="demo", disable=not progress)
            for attempt in range(max_attempts):
                if result.num_episodes >= episodes:
                    break
                seed = seed_start + attempt
                expert = make_expert(env, noise=noise, rng=np.random.default_rng(seed), noise_steps=noise_steps)
                episode = run_episode(env, expert, seed, labels, policy_driver, tail_steps)
                if not episode["success"]:
                    result.num_failed += 1
                    result.failed_seeds.append(seed)
                    bar.set_postfix(failed=result.num_failed)
                    continue
                writer.add_episode(
                    episode["obs"], episode["actions"], episode["rewards"], episode["dones"], episode["states"], seed=seed
                )
                result.num_episodes += 1
                result.num_samples += len(episode["actions"])
                result.driven_steps += policy_driver.policy_steps if policy_driver is not None else 0
                result.seeds.append(seed)
                bar.update(1)
            bar.close()
    finally:
        env.close()
    result.seconds = time.perf_counter() - start_time
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tts_gym.envs.registration import SHORT_NAMES

    parser.add_argument("--env", required=True, choices=sorted(SHORT_NAMES), help="task to collect")
    parser.add_argument("--episodes", type=int, required=True, help="number of successful demos to store")
    parser.add_argument("--noise", type=float, default=DEFAULT_NOISE, help="expert Gaussian action-noise std")
    parser.add_argument(
        "--noise-steps", type=float, default=0.0, help="noise correlation time in env steps (0: white noise)"
    )
    parser.add_argument(
        "--labels", choices=LABELS, default="executed",
        help="store the executed (noisy) actions or the expert's clean ones (DART)",
    )
    parser.add_argument(
        "--driver", default=None, metavar="POLICY",
        help="DAgger: this policy (shipped name or checkpoint) drives a share of the chunks; needs --labels clean",
    )
    parser.add_argument("--driver-share", type=float, default=DEFAULT_DRIVER_SHARE,
                        help="probability that the driver policy executes a chunk")
    parser.add_argument("--driver-sampler", default=None, help="driver's sampler (default: its checkpoint's)")
    parser.add_argument("--driver-steps", type=int, default=None, help="driver's denoising steps")
    parser.add_argument("--driver-stages", nargs="+", default=None, metavar="STAGE",
                        help="expert stages in which the driver may drive (default: all), e.g. light_approach")
    parser.add_argument("--tail-steps", type=int, default=0,
                        help="steps recorded after each episode's success (e.g. the horizon Tp, for absolute actions)")
    parser.add_argument("--out", required=True, help="output HDF5 file (robomimic layout)")
    parser.add_argument("--seed-start", type=int, default=0, help="seed of the first episode")
    parser.add_argument("--max-episode-steps", type=int, default=None,
                        help="episode horizon (default: the env's; DAgger episodes are slower than the expert's)")
    parser.add_argument("--max-attempts", type=int, default=None, help="attempt budget (default 2 x episodes)")
    parser.add_argument("--no-progress", action="store_true", help="disable the progress bar")


def run(args: argparse.Namespace) -> int:
    result = collect(
        args.env,
        episodes=args.episodes,
        noise=args.noise,
        out=args.out,
        seed_start=args.seed_start,
        max_attempts=args.max_attempts,
        progress=not args.no_progress,
        env_kwargs={"max_episode_steps": args.max_episode_steps} if args.max_episode_steps else None,
        noise_steps=args.noise_steps,
        labels=args.labels,
        driver=args.driver,
        driver_share=args.driver_share,
        driver_sampler=args.driver_sampler,
        driver_steps=args.driver_steps,
        driver_stages=args.driver_stages,
        tail_steps=args.tail_steps,
    )
    summary = asdict(result)
    summary.pop("seeds")
    print(json.dumps(summary))
    if result.num_episodes < args.episodes:
        print(
            f"error: only {result.num_episodes}/{args.episodes} successful episodes in the attempt budget",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
