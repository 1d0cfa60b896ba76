"""Benchmark: metrics, classical and learned restorers, the paper's experiment grid, reports."""

from flowrestore.benchmark.experiments import EXPERIMENTS, Experiment, Setting
from flowrestore.benchmark.harness import (
    BenchmarkConfig,
    BenchmarkResult,
    ImageResult,
    Progress,
    plan,
    required_checkpoints,
    run_benchmark,
)
from flowrestore.benchmark.map import LatentMAP, MapConfig
from flowrestore.benchmark.methods import METHODS, Unavailable
from flowrestore.benchmark.report import Cell, summarize, write_report

__all__ = [
    "EXPERIMENTS",
    "METHODS",
    "BenchmarkConfig",
    "BenchmarkResult",
    "Cell",
    "Experiment",
    "ImageResult",
    "LatentMAP",
    "MapConfig",
    "Progress",
    "Setting",
    "Unavailable",
    "plan",
    "required_checkpoints",
    "run_benchmark",
    "summarize",
    "write_report",
]
