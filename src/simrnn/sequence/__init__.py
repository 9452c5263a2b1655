"""Sequence surrogates of granular simulations (GrainLearning-style parameter-conditioned LSTMs)."""
