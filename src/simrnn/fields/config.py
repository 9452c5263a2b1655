"""Configuration of a field-surrogate run, with LASERNet's flag names and defaults.

LASERNet's ``--epochs 100 --batch-size 16 --lr 1e-3 --seq-length 3 --plane xz --rnn-layers 4
--split-ratio 12,6,6 --no-preload`` keep their meaning; ``patience`` defaults to LASERNet's 15
here. The engine's settings (epochs, seed, devices, strategy, precision, logger, gradient
clipping ...) come from :class:`~simrnn.engine.settings.TrainSettings`.

Loss (masked: cells outside the window's mask never count)::

    w = mask * (change_weight where the cell melts, solidifies or changes colour between the
                last context frame and the target, else 1)                       ("change")
    w = mask * (1 inside t_solidus <= T_target <= t_liquidus else base_weight)   ("weighted", LASERNet's)
    w = mask                                                                      ("mse")
    loss = sum(w * (pred - target)^2) / (9 * sum(w))  [+ decouple_beta * L_decouple for PredRNN]

with ``T_target`` the target step's temperature in kelvin (un-normalised ``future_temp``) and the
change categories of :func:`simrnn.fields.metrics.change_categories`. The solidification band
comes from the data (:mod:`simrnn.fields.band`) unless ``t_solidus`` and ``t_liquidus`` are given
(LASERNet's alloy: 1400 and 1500 K).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

from simrnn.config import setting
from simrnn.engine.settings import TrainSettings
from simrnn.errors import UserInputError


@dataclass
class FieldsConfig(TrainSettings):
    """Every setting of a field run (defaults: LASERNet's where it has one)."""

    precision: str = setting(
        "32-true", "Lightning precision, or auto: bf16-mixed where bf16 autocast is measurably faster on the training "
        "device (simrnn.fields.hardware.fast_bf16), else 32-true; config.json records the choice. fp32 by default: "
        "bf16 moved the test MSE by more than a change of seed (benchmarks/fields_precision.py).")
    patience: int = setting(15, "Epochs without a lower val_loss before stopping early (LASERNet: 15).")
    cache: str = setting("", "HDF5 field cache made by `simrnn fields convert` (required).")
    plane: Literal["xy", "xz", "yz"] = setting("xz", "Plane of the 2-D samples: xy, xz or yz.")
    split_ratio: tuple[int, int, int] = setting((12, 6, 6), "Train, val, test proportions of the time steps.")
    seq_length: int = setting(3, "Context frames per sample.")
    preload: bool = setting(True, "Read the split's frames into memory once (--no-preload: read per sample).")
    target: Literal["microstructure", "temperature"] = setting(
        "microstructure", "What to predict: the next IPF microstructure frame (from the context and the next "
        "temperature), or the next temperature field from the previous ones (TempNet).")
    model: str = setting("cnn-lstm", "Registered field model (its recurrent core for --target temperature).")
    hidden_channels: int = setting(64, "Channels of the recurrent core (h, c and PredRNN's m).")
    rnn_layers: int = setting(4, "Stacked recurrent layers.")
    encoder_channels: list[int] = setting([16, 32, 64], "Widths of the encoder stages (each halves the grid).")
    skip: bool = setting(False, "U-Net skips from the last context frame and the future temperature.")
    output: Literal["gated", "logit", "direct"] = setting(
        "gated", "Output form: gated (last + g (new - last)), logit (change of the last frame in logit space) "
        "or direct (LASERNet's sigmoid(decoder)).")
    batch_size: int = setting(16, "Samples per batch.")
    lr: float = setting(1e-3, "Adam learning rate.")
    cosine_schedule: bool = setting(False, "Anneal the learning rate to 0 over the epochs (cosine).")
    loss: Literal["change", "mse", "weighted"] = setting(
        "change", "Loss: change (cells that melt, solidify or change colour weigh change_weight), mse, or "
        "weighted (LASERNet's: solidification band weight 1, base_weight elsewhere).")
    change_weight: float = setting(10.0, "Weight of the changing cells with --loss change (unchanged cells: 1).")
    t_solidus: float | None = dataclasses.field(default=None, metadata={
        "help": "Lower end (K) of the solidification band (default: from the data); LASERNet's --T-solidus.",
        "flags": ("--t-solidus", "--T-solidus")})
    t_liquidus: float | None = dataclasses.field(default=None, metadata={
        "help": "Upper end (K) of the solidification band (default: from the data); LASERNet's --T-liquidus.",
        "flags": ("--t-liquidus", "--T-liquidus")})
    base_weight: float = setting(0.1, "Weight of the cells outside the band with --loss weighted, in [0, 1].")
    train_horizon: int = setting(1, "Frames forecast per training sequence, each fed back as context "
                                    "(PredRNN-V2's multi-frame supervision; 1: the next frame only).")
    sampling: Literal["off", "plain", "reverse"] = setting(
        "off", "Scheduled sampling of fed-back training frames: reverse (PredRNN-V2), plain, or off "
        "(own predictions beyond the true context); see simrnn.fields.curriculum.")
    sampling_ramp: float = setting(0.8, "Fraction of the training steps over which the sampling schedule "
                                   "reaches its end points.")
    decouple_beta: float = setting(0.1, "Weight of PredRNN-V2's memory decoupling loss (0: off).")
    use_weighted_loss: bool | None = setting(None, "LASERNet's flag: the same as --loss weighted (see --loss-type).")
    loss_type: str | None = setting(None, "LASERNet's flag: 'weighted' with --use-weighted-loss is --loss weighted; "
                                          "'combined' and 'sharpness' have no simrnn equivalent (refused).")
    weight_scale: float | None = setting(None, "LASERNet's Gaussian band width: refused (simrnn's band is a box "
                                               "--t-solidus..--t-liquidus with --base-weight outside).")
    gradient_weight: float | None = setting(None, "LASERNet's sharpness-loss term: refused (no simrnn equivalent).")
    perceptual_weight: float | None = setting(None, "LASERNet's sharpness-loss term: refused (no simrnn equivalent).")
    enable_solidification_sharp: bool | None = setting(None, "LASERNet's sharpness-loss switch: refused (no simrnn "
                                                             "equivalent).")
    use_fast_loading: bool | None = setting(None, "LASERNet's flag for its preprocessed .pt files: accepted and "
                                                  "unneeded, simrnn always reads its HDF5 cache.")
    num_workers: int = setting(0, "DataLoader worker processes (0: load in the training process).")

    def validate(self, source: str = "config") -> None:
        """Raise a one-sentence :class:`UserInputError` for inconsistent values; resolve ``precision="auto"``."""
        self._translate_lasernet_flags(source)
        if self.precision == "auto":
            self.precision, self.precision_choice = auto_precision(self.accelerator)
        super().validate(source)
        if not self.cache:
            raise UserInputError(f"{source}: no data file; give cache (an HDF5 field cache).", key="cache")
        for key in ("seq_length", "hidden_channels", "rnn_layers", "batch_size"):
            if getattr(self, key) < 1:
                raise UserInputError(f"{source}: {key!r} must be at least 1, got {getattr(self, key)}.")
        if len(self.split_ratio) != 3 or min(self.split_ratio) < 1:
            raise UserInputError(
                f"{source}: 'split_ratio' must be three positive integers like 12,6,6, got {list(self.split_ratio)}.")
        if not self.encoder_channels or min(self.encoder_channels) < 1:
            raise UserInputError(
                f"{source}: 'encoder_channels' must be positive widths like 16,32,64, got {self.encoder_channels}.")
        if not 0 < self.lr < math.inf:
            raise UserInputError(f"{source}: 'lr' must be positive, got {self.lr}.")
        if (self.t_solidus is None) != (self.t_liquidus is None):
            raise UserInputError(f"{source}: give both 't_solidus' and 't_liquidus' (K), or neither to derive "
                                 "the band from the data.")
        if self.t_solidus is not None and not self.t_solidus < self.t_liquidus:
            raise UserInputError(
                f"{source}: 't_solidus' ({self.t_solidus} K) must be below 't_liquidus' ({self.t_liquidus} K).")
        if not 0 <= self.base_weight <= 1:
            raise UserInputError(f"{source}: 'base_weight' must be in [0, 1], got {self.base_weight}.")
        if not 1 <= self.change_weight < math.inf:
            raise UserInputError(f"{source}: 'change_weight' must be at least 1, got {self.change_weight}.")
        if self.target == "temperature" and (self.train_horizon != 1 or self.sampling != "off"):
            raise UserInputError(f"{source}: the curriculum (train_horizon, sampling) is for the microstructure "
                                 "target; give train_horizon 1 and sampling off with target temperature.")
        if self.train_horizon < 1:
            raise UserInputError(f"{source}: 'train_horizon' must be at least 1, got {self.train_horizon}.")
        if not 0 <= self.sampling_ramp <= 1:
            raise UserInputError(f"{source}: 'sampling_ramp' must be in [0, 1], got {self.sampling_ramp}.")
        if self.decouple_beta < 0:
            raise UserInputError(f"{source}: 'decouple_beta' must not be negative, got {self.decouple_beta}.")
        if self.num_workers < 0:
            raise UserInputError(f"{source}: 'num_workers' must not be negative, got {self.num_workers}.")


    def _translate_lasernet_flags(self, source: str) -> None:
        """LASERNet's loss flags: ``--use-weighted-loss [--loss-type weighted]`` becomes ``loss="weighted"``;
        what simrnn has no equivalent for is refused with one sentence naming the nearest setting."""
        for key in ("gradient_weight", "perceptual_weight", "enable_solidification_sharp"):
            if getattr(self, key) is not None:
                raise UserInputError(
                    f"{source}: {key!r} belongs to LASERNet's sharpness loss, which simrnn does not have; the nearest "
                    "is loss change (the default: cells that change weigh change_weight) or loss weighted.", key=key)
        if self.weight_scale is not None:
            raise UserInputError(
                f"{source}: 'weight_scale' (LASERNet's Gaussian band width) has no simrnn equivalent: the weighted "
                "loss uses the box t_solidus..t_liquidus with base_weight outside (loss weighted).", key="weight_scale")
        if self.loss_type not in (None, "weighted"):
            raise UserInputError(
                f"{source}: 'loss_type' {self.loss_type!r} (LASERNet's) has no simrnn equivalent; use loss weighted "
                "(LASERNet's 'weighted'), change (the default) or mse.", key="loss_type")
        if self.loss_type is not None and not self.use_weighted_loss:
            raise UserInputError(f"{source}: 'loss_type' needs 'use_weighted_loss' (as in LASERNet); "
                                 "or give loss weighted.", key="loss_type")
        if self.use_weighted_loss:
            if self.loss not in ("change", "weighted"):  # "change" is the default: not distinguishable from unset
                raise UserInputError(f"{source}: 'use_weighted_loss' (LASERNet's) means loss weighted, but loss is "
                                     f"{self.loss!r}; give one of them.", key="use_weighted_loss")
            self.loss = "weighted"


def auto_precision(accelerator: str) -> tuple[str, str]:
    """``precision="auto"``: ``("bf16-mixed" | "32-true", why)`` for the device ``accelerator`` trains on.

    bf16-mixed where bf16 autocast makes 3x3 convolutions at least 15 % faster there (timed once per
    process by :func:`simrnn.fields.hardware.fast_bf16`: CPUs with AVX512-BF16 or AMX, GPUs with bf16
    tensor cores). Not the default: on the demo data bf16 moved the test MSE and skill by more than
    the seed-to-seed spread (``benchmarks/fields_precision.py``, docs/fields.md).
    """
    import torch

    from simrnn.fields.hardware import fast_bf16

    device = "cuda" if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available() else "cpu"
    if fast_bf16(device):
        return "bf16-mixed", f"auto: bf16 autocast measured faster than fp32 on this {device}"
    return "32-true", f"auto: bf16 autocast not measurably faster on this {device}"
