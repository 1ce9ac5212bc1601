#!/usr/bin/env bash
# Rebuilds every file in tts_gym/zoo/ from nothing: demonstrations, dense policies, pruners,
# evaluations. Run on an otherwise idle machine (training beside simulator work is up to 5x slower).
# Each step is resumable: rerun the script after an interruption. Times are from the 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-outputs}
THREADS=${THREADS:-2}
export MUJOCO_GL=${MUJOCO_GL:-egl}
# The inference choices each shipped file carries, chosen on validation seeds (step 5).
choices() { case $1 in can|square) echo --action-steps 4 --temperature 0.5 ;;
                       kitchen) echo --temporal-ensemble --ensemble-decay 0.1 --temperature 0.25 ;; esac; }

# 1. demonstrations (scripted experts, per-seed perturbation on, seeds from 0; test seeds start at 100000).
#    Kitchen: 100 demos for the base policy, then 300 (seeds 0-302, 3 failed) for its fine-tune. The shipped
#    base (tts_gym/zoo/kitchen.pt at commit c9f0d60) was trained on demos whose expert stopped pushing
#    the light switch at -0.5; since commit 8bdb751 it pushes to the stop (-0.65), so the 100 base
#    demos collected now differ there (the 300 fine-tuning demos are the ones the shipped file saw).
#    The next fine-tune sees the same 300 episodes with the end-effector position appended (kitchen-ee),
#    the last two the same episodes again with absolute arm joint targets as actions (kitchen-ee-position),
#    first ending at success, then recorded 16 steps (Tp) past it.
python -m tts_gym.data.collect --env kitchen --episodes 300 --noise 0.1 --out $OUT/data/kitchen300_light.hdf5 --seed-start 0  # 4 min
python -m tts_gym.data.collect --env kitchen-ee --episodes 300 --noise 0.1 --out $OUT/data/kitchenee300.hdf5 --seed-start 0  # 4 min
python -m tts_gym.data.collect --env kitchen-ee-position --episodes 300 --noise 0.1 --out $OUT/data/kitchenpos300.hdf5 --seed-start 0  # 3.4 min
python -m tts_gym.data.collect --env kitchen-ee-position --episodes 300 --noise 0.1 --tail-steps 16 \
    --out $OUT/data/kitchenpos300_tail.hdf5 --seed-start 0  # 3.4 min
for env in kitchen lift square; do
  python -m tts_gym.data.collect --env $env --episodes 100 --noise 0.1 --out $OUT/data/$env.hdf5 --seed-start 0
done
# Square with the grasp features (docs/square.md): 150 + 150 demos, 4 + 10 min
python -m tts_gym.data.collect --env square-grasp --episodes 150 --noise 0.1 --out $OUT/data/square_grasp.hdf5 --seed-start 0
python -m tts_gym.data.collect --env square-grasp --episodes 150 --noise 0.1 --out $OUT/data/square_grasp_b.hdf5 --seed-start 1000
python -m tts_gym.data.collect --env can --episodes 200 --noise 0.1 --out $OUT/data/can.hdf5 --seed-start 0  # 11 min

# 2. dense DP-T (d=128, L=8, 4 heads; DDPM-100), EMA weights
tts-gym train --dataset $OUT/data/kitchen.hdf5 --config kitchen --epochs 120 --threads $THREADS --out $OUT/policies/kitchen_base.pt  # 2.3 h at 68 s/epoch
tts-gym train --dataset $OUT/data/kitchen300_light.hdf5 --config kitchen --epochs 20 --lr 1e-4 --seed 0 --init $OUT/policies/kitchen_base.pt \
    --threads $THREADS --out $OUT/policies/kitchen59.pt  # 47 min (the shipped file started from the fp16 base)
# widened to the 62-d observation (the end-effector inputs start at zero), then fine-tuned
tts-gym train --dataset $OUT/data/kitchenee300.hdf5 --config kitchen --epochs 22 --lr 1e-4 --seed 0 --init $OUT/policies/kitchen59.pt \
    --threads $THREADS --out $OUT/policies/kitchen_velocity.pt  # 34 min (the file shipped then started from the fp16 59-d file)
# the same network, its outputs now absolute arm joint targets (the normalizer is the new dataset's)
tts-gym train --dataset $OUT/data/kitchenpos300.hdf5 --config kitchen --epochs 30 --lr 1e-4 --seed 0 --init $OUT/policies/kitchen_velocity.pt \
    --threads $THREADS --out $OUT/policies/kitchenpos.pt  # 40 min (the shipped file started from the fp16 velocity file)
tts-gym train --dataset $OUT/data/kitchenpos300_tail.hdf5 --config kitchen --epochs 10 --lr 1e-4 --seed 0 --init $OUT/policies/kitchenpos.pt \
    --threads $THREADS --out $OUT/policies/kitchen.pt  # 14 min
tts-gym train --dataset $OUT/data/lift.hdf5 --config robomimic --epochs 150 --threads $THREADS --out $OUT/policies/lift.pt   # 35 min
tts-gym train --dataset $OUT/data/can.hdf5 --config robomimic --epochs 65 --threads $THREADS --out $OUT/policies/can.pt      # 107 min
tts-gym train --dataset $OUT/data/square.hdf5 --config robomimic --epochs 120 --threads $THREADS --out $OUT/policies/square23.pt  # 87 min
# widened to the 30-d observation (the grasp features start at zero), then fine-tuned on 150, then 300 demos
tts-gym train --dataset $OUT/data/square_grasp.hdf5 --config robomimic --epochs 40 --seed 0 --init $OUT/policies/square23.pt \
    --threads $THREADS --out $OUT/policies/square_grasp.pt  # 27 min
tts-gym train --dataset $OUT/data/square_grasp.hdf5 $OUT/data/square_grasp_b.hdf5 --config robomimic --epochs 25 --seed 1 \
    --init $OUT/policies/square_grasp.pt --threads $THREADS --out $OUT/policies/square.pt  # 37 min

# 3. reference trajectories: dense rollouts on training seeds (the windows barely depend on the sampler)
tts-gym record-rollouts --policy $OUT/policies/lift.pt --episodes 300 --out $OUT/rollouts/lift_ddpm300.h5
for task in lift can square kitchen; do
  episodes=$(case $task in lift) echo 240 ;; kitchen) echo 32 ;; *) echo 60 ;; esac)
  tts-gym record-rollouts --policy $OUT/policies/$task.pt $(choices $task) --sampler ddim --steps 16 --episodes $episodes \
      --envs 4 --out $OUT/rollouts/$task.h5  # 6 min each
done

# 4. pruners (omni-reuse). These robosuite ones start at BAC's plan for their target (--init-plan bac; the
#    default, best, starts at the static plan nearest dense's chunks), Kitchen's at the tail plan; each ships
#    only if it keeps dense's success on the test seeds (step 5).
#    Lift's DDIM-16 pruner is older: trained at rho 0.95 from scratch, then moved to 0.80 and 0.90.
#    --reset-each-batch: the pruners trained with every batch starting dense (R not carried across batches).
P=$OUT/pruners
tts-gym train-pruner --policy $OUT/policies/lift.pt --rollouts $OUT/rollouts/lift_ddpm300.h5 --rho 0.95 --segment-frames 5 --reset-each-batch \
    --init-plan none --all-actions --sampler ddim --steps 16 --epochs 12 --max-minutes 45 --out $P/lift_ddim16_rho0.95.pt --threads $THREADS
for rho in 0.80 0.90; do
  tts-gym train-pruner --policy $OUT/policies/lift.pt --rollouts $OUT/rollouts/lift_ddpm300.h5 --rho $rho --segment-frames 5 \
      --recalibrate $P/lift_ddim16_rho0.95.pt --out $P/lift_ddim16_rho$rho.pt
done
for task in lift can square; do  # DDIM-2 at rho 0.95: step 1 starts fully reused; 4-5 min each
  tts-gym train-pruner --policy $OUT/policies/$task.pt $(choices $task) --rollouts $OUT/rollouts/$task.h5 --sampler ddim --steps 2 \
      --rho 0.95 --init-plan bac --segment-frames 8 --reset-each-batch --batch-size 8 --epochs 20 --max-minutes 5 --threads 1 --out $P/${task}_ddim2_rho0.95.pt
done
# DDIM-16 at rho 0.80 for Can (BAC's plan alone keeps 0.02 there): 12 min
tts-gym train-pruner --policy $OUT/policies/can.pt $(choices can) --rollouts $OUT/rollouts/can.h5 --sampler ddim --steps 16 \
    --rho 0.8 --init-plan bac --gated-steps 4 --segment-frames 8 --batch-size 8 --epochs 10 --max-minutes 12 --threads 1 \
    --out $P/can_ddim16_rho0.80.pt
# DDIM-16 at rho 0.70 for Square (trained there: the rho 0.90 pruner moved to 0.70 keeps 0.02): 12 min
tts-gym train-pruner --policy $OUT/policies/square.pt $(choices square) --rollouts $OUT/rollouts/square.h5 --sampler ddim --steps 16 \
    --rho 0.7 --init-plan bac --gated-steps 4 --segment-frames 8 --reset-each-batch --batch-size 8 --epochs 10 --max-minutes 12 --threads 1 --out $P/square_ddim16_rho0.70.pt
# DDPM-100 at rho 0.90: 4 gated steps per act, 45-50 min each (Lift's keeps dense's success; rerunning resumes)
for task in lift square; do
  tts-gym train-pruner --policy $OUT/policies/$task.pt $(choices $task) --rollouts $OUT/rollouts/$task.h5 --sampler ddpm --steps 100 \
      --rho 0.9 --init-plan bac --gated-steps 4 --segment-frames 6 --reset-each-batch --batch-size 8 --epochs 20 --max-minutes 45 \
      --threads 1 \
      --out $P/${task}_ddpm100_rho0.90.pt
done
# Lift's carried on to rho 0.93 from there, R carried across batches (the default), 231 batches (28 min); the
# state picked by validation episodes (seeds 200000+): 351 batches kept fewer
tts-gym train-pruner --policy $OUT/policies/lift.pt --rollouts $OUT/rollouts/lift.h5 --sampler ddpm --steps 100 --rho 0.93 \
    --gated-steps 4 --segment-frames 6 --batch-size 8 --epochs 200 --stop-after 231 --threads 1 \
    --init $P/lift_ddpm100_rho0.90.pt --out $P/lift_ddpm100_rho0.93.pt
# and on to rho 0.95 from that one: snapshots every 40 batches kept 0.73 / 0.87 / 0.97 / 0.47 on validation
# seeds (40..160); the 120-batch one ships
tts-gym train-pruner --policy $OUT/policies/lift.pt --rollouts $OUT/rollouts/lift.h5 --sampler ddpm --steps 100 --rho 0.95 \
    --gated-steps 4 --segment-frames 6 --batch-size 8 --epochs 200 --stop-after 120 --snapshot-every 40 --threads 1 \
    --init $P/lift_ddpm100_rho0.93.pt --out $P/lift_ddpm100_rho0.95.pt
# and on to rho 0.97 from that one the same way (0.17 / 0.63 / 0.97 at 40 / 80 / 120 batches)
tts-gym train-pruner --policy $OUT/policies/lift.pt --rollouts $OUT/rollouts/lift.h5 --sampler ddpm --steps 100 --rho 0.97 \
    --gated-steps 4 --segment-frames 6 --batch-size 8 --epochs 200 --stop-after 120 --snapshot-every 40 --threads 1 \
    --init $P/lift_ddpm100_rho0.95.pt --out $P/lift_ddpm100_rho0.97.pt
# Can's at rho 0.90 from BAC's plan, R carried (the default); snapshots every 60 batches, the one kept
# picked by validation episodes (seeds 200000+): 300 batches (0.43 / 0.60 / 0.90 / 0.20 / 0.93 at 60..300)
tts-gym train-pruner --policy $OUT/policies/can.pt $(choices can) --rollouts $OUT/rollouts/can.h5 --sampler ddpm --steps 100 --rho 0.9 \
    --init-plan bac --gated-steps 4 --segment-frames 6 --batch-size 8 --epochs 200 --stop-after 300 --snapshot-every 60 \
    --threads 1 --out $P/can_ddpm100_rho0.90.pt
# and on to rho 0.92 from that one, handing out the moving average of its weights (decay 0.99); snapshots every
# 40 batches kept 0.37 / 0.77 / 0.80 / 0.70 on validation seeds (40..160); the 120-batch one ships (16 min beside another job)
tts-gym train-pruner --policy $OUT/policies/can.pt $(choices can) --rollouts $OUT/rollouts/can.h5 --sampler ddpm --steps 100 --rho 0.92 \
    --gated-steps 4 --segment-frames 6 --batch-size 8 --epochs 200 --stop-after 120 --snapshot-every 40 --ema-decay 0.99 --threads 1 \
    --init $P/can_ddpm100_rho0.90.pt --out $P/can_ddpm100_rho0.92.pt
# its most frequent plan over the rollouts' acts, run as a static plan (no pruner per act): the pruner
# decides otherwise on 3e-5 of its decisions; ships beside it as the frozen variant
tts-gym train-pruner --policy $OUT/policies/can.pt $(choices can) --rollouts $OUT/rollouts/can.h5 \
    --freeze $P/can_ddpm100_rho0.92.pt --out $P/can_frozen_ddpm100_rho0.92.pt
# the same for Lift's rho 0.97 and Square's rho 0.90 (below) ones
tts-gym train-pruner --policy $OUT/policies/lift.pt --rollouts $OUT/rollouts/lift.h5 \
    --freeze $P/lift_ddpm100_rho0.97.pt --out $P/lift_frozen_ddpm100_rho0.97.pt
# Square's at rho 0.90 keeps 0.74; moved to 0.85 by its compute offset it keeps 0.82 and ships
tts-gym train-pruner --policy $OUT/policies/square.pt $(choices square) --rollouts $OUT/rollouts/square.h5 --sampler ddpm --steps 100 \
    --rho 0.85 --recalibrate $P/square_ddpm100_rho0.90.pt --out $P/square_ddpm100_rho0.85.pt
# and back to rho 0.90 from that one with the weight average (decay 0.99): snapshots every 40 batches kept
# 0.77 / 0.73 / 0.87 on validation seeds (80..160); the 160-batch one ships (20 min beside another job)
tts-gym train-pruner --policy $OUT/policies/square.pt $(choices square) --rollouts $OUT/rollouts/square.h5 --sampler ddpm --steps 100 \
    --rho 0.9 --gated-steps 4 --segment-frames 6 --batch-size 8 --epochs 200 --stop-after 160 --snapshot-every 40 --ema-decay 0.99 \
    --threads 1 --init $P/square_ddpm100_rho0.85.pt --out $P/square_ddpm100_rho0.90_ema.pt
# Kitchen: tail plans (the last denoising steps computed; seconds each), written untrained, and the DDPM-100
# and DDIM-16 pruners started at the rho 0.92, 0.93 and 0.80 ones, 40 batches each (4-13 min; the DDIM-16
# run's snapshots at 20 / 40 / 60 batches kept p4 0.13 / 1.00 / 0.96 on validation seeds)
for spec in "ddpm 100 0.92" "ddpm 100 0.93" "ddim 16 0.80" "ddim 4 0.50"; do
  set -- $spec
  tts-gym train-pruner --policy $OUT/policies/kitchen.pt $(choices kitchen) --rollouts $OUT/rollouts/kitchen.h5 --sampler $1 --steps $2 \
      --rho $3 --static tail --out $P/kitchen_tail_$1$2_rho$3.pt
done
for spec in "ddpm 100 0.92" "ddpm 100 0.93" "ddim 16 0.80"; do
  set -- $spec
  tts-gym train-pruner --policy $OUT/policies/kitchen.pt $(choices kitchen) --rollouts $OUT/rollouts/kitchen.h5 --sampler $1 --steps $2 \
      --rho $3 --init-plan tail --prior-lr 0.001 --ema-decay 0.99 --gated-steps 4 --segment-frames 8 --batch-size 8 --epochs 50 \
      --stop-after 40 --threads 1 --out $P/kitchen_$1$2_rho$3.pt
done
# DDIM-4 from its tail plan, calibrated at 0.62 of the decisions after step 0 (the plan reuses 0.67): training
# moves no decision, the head breaks the plan's ties where compute is added (3 min; p4 1.00 on validation seeds)
tts-gym train-pruner --policy $OUT/policies/kitchen.pt $(choices kitchen) --rollouts $OUT/rollouts/kitchen.h5 --sampler ddim --steps 4 \
    --rho 0.62 --init $P/kitchen_tail_ddim4_rho0.50.pt --prior-lr 0.001 --ema-decay 0.99 --gated-steps 4 --segment-frames 8 \
    --batch-size 8 --epochs 50 --stop-after 60 --threads 1 --out $P/kitchen_ddim4_rho0.62.pt
# Lift, Can and Square: static plans at 92-96% reuse (seconds each, no training). Their tail search picks no
# tail: every block computed at evenly spaced steps; Can's at 94% is the interval plan (steps 0, 17, ..., 85)
for spec in "can 0.92" "square 0.92" "lift 0.94" "lift 0.96"; do
  set -- $spec
  tts-gym train-pruner --policy $OUT/policies/$1.pt $(choices $1) --rollouts $OUT/rollouts/$1.h5 --sampler ddpm --steps 100 \
      --rho $2 --static tail --out $P/$1_tail_ddpm100_rho$2.pt
done
tts-gym train-pruner --policy $OUT/policies/can.pt $(choices can) --rollouts $OUT/rollouts/can.h5 --sampler ddpm --steps 100 \
    --rho 0.94 --static interval --out $P/can_interval_ddpm100_rho0.94.pt
# Can's and Square's pruners started one step's worth below the evenly spaced plan (Can's at 95% and 96%
# trained at rho 0.94 and 0.95, Square's at 94% at rho 0.93), 80 batches, snapshots at 40 (11 min each beside
# another job); `tts-gym pick` keeps the state with the most success on 30 validation seeds (Can 0.73 / 0.97
# and 0.67 / 0.97 at 40 / 80 batches, the plans alone 0.70; Square 0.80 / 0.90, the plan alone 0.80)
for spec in "can 0.95 0.94" "can 0.96 0.95" "square 0.94 0.93"; do
  set -- $spec
  tts-gym train-pruner --policy $OUT/policies/$1.pt $(choices $1) --rollouts $OUT/rollouts/$1.h5 --sampler ddpm --steps 100 \
      --rho $2 --static interval --out $P/runs/$1_interval_ddpm100_rho$2.pt
  tts-gym train-pruner --policy $OUT/policies/$1.pt $(choices $1) --rollouts $OUT/rollouts/$1.h5 --sampler ddpm --steps 100 \
      --rho $3 --init $P/runs/$1_interval_ddpm100_rho$2.pt --gated-steps 4 --segment-frames 6 --batch-size 8 --epochs 200 \
      --stop-after 80 --snapshot-every 40 --ema-decay 0.99 --threads 1 --out $P/runs/$1_ddpm100_rho$3.pt
  tts-gym pick --policy $OUT/policies/$1.pt $(choices $1) --episodes 30 --envs 4 $P/runs/$1_ddpm100_rho$3_b40.pt \
      $P/runs/$1_ddpm100_rho$3_b80.pt --results $OUT/pick/$1_ddpm100_rho$3 --out $P/$1_ddpm100_rho$3.pt
done
tts-gym train-pruner --policy $OUT/policies/square.pt $(choices square) --rollouts $OUT/rollouts/square.h5 \
    --freeze $P/square_ddpm100_rho0.90_ema.pt --out $P/square_frozen_ddpm100_rho0.90.pt

# 5. evaluation on test seeds 100000+ (dense and sparse on the same seeds; each episode's noise follows its seed).
#    The inference choices were made on validation seeds 200000+ (tts-gym eval ... --action-steps N |
#    --temperature T | --temporal-ensemble --ensemble-decay M --seed-start 200000): Can runs 4 actions per
#    chunk at temperature 0.5, as does Square; Kitchen ensembles its chunks (decay 0.1) at temperature 0.25; the others run
#    8 at temperature 1 (choices(), at the top). The shipped files carry them (ship policy with the same flags).
for task in kitchen lift can square; do
  tts-gym eval --policy $OUT/policies/$task.pt $(choices $task) --episodes 50 --envs 4 --out $OUT/eval/${task}_ddpm100_dense
  tts-gym eval --policy $OUT/policies/$task.pt $(choices $task) --sampler ddim --steps 16 --episodes 50 --envs 4 --out $OUT/eval/${task}_ddim16_dense
  for planner in $P/${task}_*_rho*.pt; do
    [ -f "$planner" ] || continue
    tts-gym eval --policy $OUT/policies/$task.pt $(choices $task) --planner $planner --episodes 50 --envs 4 \
        --out $OUT/eval/${task}_$(basename $planner .pt)
  done
done

# 6. ship: python -m tts_gym.zoo.ship policy|pruner ... (see tts_gym/zoo/ship.py; each policy with its
#    choices above),
#    then the benchmark
#    (resumable per episode; --methods splits a task's bench across processes writing one folder)
for task in lift can kitchen square; do
  tts-gym bench --policy $task --episodes 50 --envs 4 --repeats 6 --rollouts $OUT/rollouts/$task.h5 --out $OUT/bench/$task
done
