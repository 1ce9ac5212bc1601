"""Measuring policies: FLOPs, latency, and (with the simulators) rollouts and benchmarks."""
