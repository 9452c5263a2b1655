"""Sequence surrogates of granular simulations (GrainLearning-style parameter-conditioned LSTMs).

Public API::

    train(config) -> run_dir            load_run(run_dir) -> SequenceRun
    predict(run, inputs [N,S,F], params [N,P]) -> [N, S - W + 1 + pad, L]
    import_keras(model_dir, out=None) -> run_dir
"""

import importlib
import sys
import types

#: names imported on first use, so that reading a setting (``simrnn ... --help``) loads no PyTorch.
_LAZY = {"SequenceRun": "simrnn.sequence.predict", "load_run": "simrnn.sequence.predict",
         "predict": "simrnn.sequence.predict"}


class _Package(types.ModuleType):
    """This package, whose public ``predict`` (a function) is not replaced by the submodule of that name.

    Importing ``simrnn.sequence.predict`` sets the package attribute ``predict`` to the module; with
    the names above imported lazily, that would hide the function.
    """

    def __getattr__(self, name: str):
        if name in _LAZY:
            value = getattr(importlib.import_module(_LAZY[name]), name)
            super().__setattr__(name, value)
            return value
        raise AttributeError(f"module 'simrnn.sequence' has no attribute {name!r}")

    def __setattr__(self, name: str, value) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            self.__dict__.pop(name, None)  # the function is looked up again on next use
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def train(config=None, *, resume=None):
    """Train a sequence surrogate; see :func:`simrnn.sequence.training.train` (imported lazily)."""
    from simrnn.sequence.training import train as _train

    return _train(config, resume=resume)


def import_keras(model_dir, out=None, **options):
    """Import a GrainLearning Keras model; see :mod:`simrnn.sequence.keras_import`."""
    from simrnn.sequence.keras_import import import_keras as _import

    return _import(model_dir, out=out, **options)


__all__ = ["SequenceRun", "import_keras", "load_run", "predict", "train"]
