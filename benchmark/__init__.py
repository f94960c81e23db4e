"""ganbench: a plugin-based benchmarking harness for GANs."""
from .errors import GanbenchError, ResourceMissing
from .hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["GanbenchError", "ResourceMissing", "hookimpl", "__version__"]
