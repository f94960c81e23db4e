"""ganbench: a plugin-based benchmarking harness for GANs.

Everything a plugin needs is importable from here: ``hookimpl``, the specs it registers,
``opt`` for its options dataclass, ``DatasetOptions``, the errors it raises, and the
contexts it is handed (``ModelContext``, ``EvalContext``, ``RunInfo``, ``ImageData``).
"""
from .config import opt
from .data import DatasetOptions
from .errors import GanbenchError, ResourceMissing
from .hookspecs import hookimpl
from .specs import (TRAITS, AugmentSpec, DatasetSpec, EvalContext, ImageData, LossSpec, MetricSpec, ModelContext, ModelSpec,
                    OptimizerSpec, RunInfo, Score)

__version__ = "0.1.0"

__all__ = ["TRAITS", "AugmentSpec", "DatasetOptions", "DatasetSpec", "EvalContext", "GanbenchError", "ImageData", "LossSpec",
           "MetricSpec", "ModelContext", "ModelSpec", "OptimizerSpec", "ResourceMissing", "RunInfo", "Score",
           "__version__", "hookimpl", "opt"]
