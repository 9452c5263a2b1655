"""Bayesian calibration of a sequence model's parameters through GrainLearning.

Modules, in the order data flows (each imports only those above it, never the other way):

- :mod:`.observations`  the observation table (GrainLearning's tutorial format)
- :mod:`.callbacks`     GrainLearning callbacks: a trained surrogate, or the synthetic simulator
- :mod:`.likelihood`    the error model (observation noise + model error per curve)
- :mod:`.posterior`     weighted-ensemble statistics: mean, std, 90 % interval; the result type
- :mod:`.bayes_filter`  GrainLearning's filter classes with that likelihood, computed stably
- :mod:`.sensitivity`   how strongly each parameter moves the curves (identifiability)
- :mod:`.artefacts`, :mod:`.figures`  the files and figures of a calibration
- :mod:`.driver`        :func:`calibrate`: read, check, iterate, write
- :mod:`.demo`          a held-out synthetic curve calibrated with the surrogate and the simulator

Example::

    from simrnn.sequence.calibration import calibrate

    result = calibrate("runs/drained", "experimental_test_drained_s3=0.2.dat",
                       param_ranges={"E": (7, 10), "mu": (0, 60), ...}, fixed_params={"pressure": 0.2})
    result.posterior["E"]     # {"mean", "std", "ci90", "most_probable", ...}
"""

from simrnn.sequence.calibration.callbacks import (
    SimulatorCallback,
    SurrogateCallback,
    simulator_callback,
    surrogate_callback,
)
from simrnn.sequence.calibration.driver import calibrate
from simrnn.sequence.calibration.posterior import CalibrationResult, IterationStats

__all__ = [
    "CalibrationResult", "IterationStats", "SimulatorCallback", "SurrogateCallback", "calibrate",
    "simulator_callback", "surrogate_callback",
]
