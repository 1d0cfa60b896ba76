"""The unrolled proximal-gradient solver, its prox modules and memory-saving backprop."""

from flowrestore.solver.prox import PROX_KINDS, FlowProx, ResNetConfig, ResNetProx, UNetConfig, UNetProx
from flowrestore.solver.unrolled import SolverConfig, UnrolledSolver

__all__ = [
    "PROX_KINDS",
    "FlowProx",
    "ResNetConfig",
    "ResNetProx",
    "SolverConfig",
    "UNetConfig",
    "UNetProx",
    "UnrolledSolver",
]
