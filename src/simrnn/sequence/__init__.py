"""Sequence surrogates of granular simulations (GrainLearning-style parameter-conditioned LSTMs).

Public API::

    train(config) -> run_dir            load_run(run_dir) -> SequenceRun
    predict(run, inputs [N,S,F], params [N,P]) -> [N, S - W + 1 + pad, L]
    import_keras(model_dir, out=None) -> run_dir
"""

from simrnn.sequence.predict import SequenceRun, load_run, predict


def train(config=None, *, resume=None):
    """Train a sequence surrogate; see :func:`simrnn.sequence.training.train` (imported lazily)."""
    from simrnn.sequence.training import train as _train

    return _train(config, resume=resume)


def import_keras(model_dir, out=None, runs_root="runs"):
    """Import a GrainLearning Keras model; see :mod:`simrnn.sequence.keras_import`."""
    from simrnn.sequence.keras_import import import_keras as _import

    return _import(model_dir, out=out, runs_root=runs_root)


__all__ = ["SequenceRun", "import_keras", "load_run", "predict", "train"]
