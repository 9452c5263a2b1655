"""PredRNN-V2's training curriculum for the many-to-one field models: multi-frame supervision over a
longer training sequence, with (reverse) scheduled sampling of the frames fed back as context.

A training sample holds ``N = L + K`` consecutive frames (``L = seq_length`` context frames and
``K = train_horizon`` frames to forecast). Frame ``j`` is predicted from the (up to) ``L`` frames
before it and its true temperature; every predicted frame is supervised, and the IPF of a
predicted frame that later serves as context is the true frame with probability ``p`` and the
model's own prediction otherwise (chosen per sample). Wang et al. (PredRNN-V2, TPAMI 2022, Sec. 4.2)
schedule ``p`` over training; here ``t = min(1, progress / ramp)`` with ``progress`` the fraction
of optimiser steps done:

=========== ============================================ =============================================
sampling    context frames 1..L-1 (predicted, fed back)  forecast frames L..N-2 (predicted, fed back)
=========== ============================================ =============================================
``reverse`` true w.p. ``0.5 + 0.5 t`` (0.5 -> 1)          true w.p. ``0.5 (1 - t)`` (0.5 -> 0)
``plain``   not predicted (always true)                  true w.p. ``1 - t`` (1 -> 0; Bengio et al. 2015)
``off``     not predicted (always true)                  never true: the model's own predictions
=========== ============================================ =============================================

At the end of the ramp every schedule trains exactly what a rollout does at test time: true
context, own predictions beyond it. With ``K = 1`` and ``off`` one frame is predicted from the
true context: the plain many-to-one training.

Example::

    p_context, p_forecast = true_frame_probabilities(progress=0.0, sampling="reverse", ramp=0.8)  # 0.5, 0.5
"""

from __future__ import annotations

from typing import Any

import torch

#: the scheduled-sampling modes (see the module docstring).
SAMPLING = ("off", "plain", "reverse")


def true_frame_probabilities(progress: float, sampling: str, ramp: float) -> tuple[float, float]:
    """Probabilities that a fed-back (context, forecast) frame is the true one at ``progress`` in [0, 1]."""
    t = 1.0 if ramp <= 0 else min(1.0, max(0.0, progress) / ramp)
    if sampling == "reverse":
        return 0.5 + 0.5 * t, 0.5 * (1.0 - t)
    if sampling == "plain":
        return 1.0, 1.0 - t
    if sampling == "off":
        return 1.0, 0.0
    raise ValueError(f"sampling must be one of {', '.join(SAMPLING)}, got {sampling!r}")


def sequence_frames(batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """A dataset batch of ``L' = N - 1`` context frames and one target -> the whole sequence:
    normalised temperature ``[B, N, 1, H, W]`` and IPF ``[B, N, 9, H, W]``."""
    temps = torch.cat([batch["context"][:, :, :1], batch["future_temp"][:, None]], dim=1)
    ipf = torch.cat([batch["context"][:, :, 1:], batch["target"][:, None]], dim=1)
    return temps, ipf


def predict_sequence(model: torch.nn.Module, temps: torch.Tensor, ipf: torch.Tensor, seq_length: int,
                     sampling: str, p_context: float, p_forecast: float
                     ) -> list[tuple[int, torch.Tensor, dict[str, Any]]]:
    """Predict the frames of one training sequence with scheduled sampling of the fed-back frames.

    Args:
        model: a field model with ``forward_with_aux(context [B, l, 10, H, W], future_temp [B, 1, H, W])``.
        temps: ``[B, N, 1, H, W]`` normalised temperatures (always the true ones).
        ipf: ``[B, N, 9, H, W]`` true IPF frames.
        seq_length: ``L``, the most context frames a prediction reads.
        sampling, p_context, p_forecast: see the module docstring and :func:`true_frame_probabilities`.

    Returns:
        ``[(j, pred [B, 9, H, W], aux)]`` for every predicted frame ``j`` (frames 1..N-1 for
        ``reverse``, L..N-1 otherwise), in order.
    """
    n_frames = temps.shape[1]
    if n_frames <= seq_length:
        raise ValueError(f"a training sequence needs more than seq_length={seq_length} frames, got {n_frames}")
    first = 1 if sampling == "reverse" else seq_length
    inputs = list(ipf[:, :first].unbind(1))
    out = []
    for j in range(first, n_frames):
        lo = max(0, j - seq_length)
        context = torch.cat([temps[:, lo:j], torch.stack(inputs[lo:j], dim=1)], dim=2)
        pred, aux = model.forward_with_aux(context, temps[:, j])
        out.append((j, pred, aux))
        p_true = p_context if j < seq_length else p_forecast
        use_true = torch.rand(len(pred), 1, 1, 1, device=pred.device) < p_true
        inputs.append(torch.where(use_true, ipf[:, j], pred.to(ipf.dtype)))
    return out
