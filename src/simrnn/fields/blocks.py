"""Convolutional encoder and decoder shared by the field models (LASERNet's outer structure).

Encoder stage k: 3x3 conv -> GroupNorm -> ReLU, then 2x2 max-pool, so ``len(widths)`` stages
reduce the grid by ``2 ** len(widths)`` (16 -> 32 -> 64 gives 1/8). The decoder mirrors it:
2x bilinear up -> [optional skip features of the same size] -> 3x3 conv -> GroupNorm -> ReLU,
then a 1x1 head. GroupNorm normalises each sample over its own groups of channels and pixels,
so unlike LayerNorm over ``[C, H, W]`` it fits every image size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

#: channels per GroupNorm group (Wu & He, 2018, Table 3: 16 per group is as good as 32 groups);
#: fewer, wider groups are also 2-3x faster than 8 groups on CPUs for channels_last tensors.
_CHANNELS_PER_GROUP = 16


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 conv (no bias; the norm has one) -> GroupNorm -> ReLU, same spatial size."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.GroupNorm(max(1, out_channels // _CHANNELS_PER_GROUP), out_channels),
        nn.ReLU(inplace=True),
    )


class Encoder(nn.Module):
    """``x [N, C_in, H, W]`` -> (per-stage features before pooling, bottom ``[N, widths[-1], H/2^S, W/2^S]``).

    ``H`` and ``W`` must be multiples of ``2 ** len(widths)`` (the models pad to that).
    """

    def __init__(self, in_channels: int, widths: Sequence[int]) -> None:
        super().__init__()
        self.stages = nn.ModuleList(
            conv_block(c_in, c_out) for c_in, c_out in zip([in_channels, *widths[:-1]], widths, strict=True)
        )

    def forward(self, x: torch.Tensor, layout: torch.memory_format = torch.contiguous_format
                ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Every feature map is returned in ``layout`` (a one-channel input leaves a convolution
        free to pick either layout; this pins it)."""
        features = []
        for stage in self.stages:
            x = stage(x).contiguous(memory_format=layout)
            features.append(x)
            x = F.max_pool2d(x, 2)
        return features, x


class Decoder(nn.Module):
    """Fused bottom ``[N, C_in, h, w]`` -> ``[N, out_channels, h * 2^S, w * 2^S]`` logits.

    Stage k upsamples 2x, concatenates ``skip_channels[k]`` channels of skip features of that size
    (none when 0) and applies :func:`conv_block` down to ``widths[k]``.
    """

    def __init__(self, in_channels: int, widths: Sequence[int], out_channels: int,
                 skip_channels: Sequence[int]) -> None:
        super().__init__()
        inputs = [in_channels, *widths[:-1]]
        self.stages = nn.ModuleList(
            conv_block(c_in + skip, c_out) for c_in, skip, c_out in zip(inputs, skip_channels, widths, strict=True)
        )
        self.head = nn.Conv2d(widths[-1], out_channels, 1)

    def forward(self, x: torch.Tensor, skips: Sequence[torch.Tensor | None]) -> torch.Tensor:
        """``skips[k]``: features ``[N, skip_channels[k], 2^(k+1) h, 2^(k+1) w]`` or None."""
        for stage, skip in zip(self.stages, skips, strict=True):
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            if skip is not None:
                x = torch.cat([x, skip], dim=1)
            x = stage(x)
        return self.head(x)
