"""simrnn: recurrent neural-network surrogates of materials simulations.

Two families share one engine: sequence surrogates (GrainLearning-style, :mod:`simrnn.sequence`)
and field surrogates (LASERNet-style microstructure, :mod:`simrnn.fields`).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("simrnn")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
