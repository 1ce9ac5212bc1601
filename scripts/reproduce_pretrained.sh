#!/usr/bin/env bash
# Rebuilds every file in tts_gym/zoo/ from nothing: demonstrations, dense policies, pruners,
# evaluations. Run on an otherwise idle machine (training beside simulator work is up to 5x slower).
# Each step is resumable: rerun the script after an interruption.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-outputs}
THREADS=${THREADS:-2}

# 1. demonstrations (scripted experts, per-seed perturbation on, seeds 0..99; test seeds start at 100000)
python -m tts_gym.data.collect --env kitchen --episodes 100 --noise 0.1 --out $OUT/data/kitchen.hdf5 --seed-start 0
python -m tts_gym.data.collect --env lift --episodes 100 --noise 0.1 --out $OUT/data/lift.hdf5 --seed-start 0

# 2. dense DP-T (d=128, L=8, 4 heads; DDPM-100), EMA weights
tts-gym train --dataset $OUT/data/kitchen.hdf5 --config kitchen --epochs 25 --threads $THREADS --out $OUT/policies/kitchen.pt
tts-gym train --dataset $OUT/data/lift.hdf5 --config robomimic --epochs 150 --threads $THREADS --out $OUT/policies/lift.pt

# 3. reference trajectories: dense rollouts on training seeds (DDIM-16: the windows barely depend on the sampler)
tts-gym record-rollouts --policy $OUT/policies/kitchen.pt --episodes 40 --out $OUT/rollouts/kitchen.h5

# 4. pruners (omni-reuse), one per sampler; rho 0.90 is the rho-0.95 pruner recalibrated (see README)
tts-gym train-pruner --policy $OUT/policies/kitchen.pt --rollouts $OUT/rollouts/kitchen.h5 --rho 0.95 \
    --sampler ddim --steps 16 --epochs 4 --out $OUT/pruners/kitchen_ddim16_rho0.95.pt --threads $THREADS
tts-gym train-pruner --policy $OUT/policies/kitchen.pt --rollouts $OUT/rollouts/kitchen.h5 --rho 0.95 \
    --sampler ddpm --steps 100 --epochs 1 --max-minutes 40 --out $OUT/pruners/kitchen_ddpm100_rho0.95.pt --threads $THREADS

# 5. evaluation on test seeds 100000+ (dense and sparse on the same seeds)
tts-gym eval --policy $OUT/policies/kitchen.pt --episodes 50 --out $OUT/eval/kitchen_dense
tts-gym eval --policy $OUT/policies/kitchen.pt --planner $OUT/pruners/kitchen_ddpm100_rho0.95.pt --episodes 50 \
    --out $OUT/eval/kitchen_tts095
