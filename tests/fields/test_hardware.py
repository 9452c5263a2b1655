"""Layout and precision choices: timed once, overridable, JSON-ready."""

from __future__ import annotations

import json

import pytest
import torch

from simrnn.environment import environment, read_environment, use_environment
from simrnn.errors import UserInputError
from simrnn.fields import hardware


def test_choices_are_valid_cached_and_summarised():
    layout = hardware.conv_layout()
    assert layout in (torch.channels_last, torch.contiguous_format)
    assert hardware.conv_layout("cpu") is layout  # cached: the same answer every time
    assert isinstance(hardware.fast_bf16(), bool)
    summary = json.loads(json.dumps(hardware.hardware_summary()))
    assert summary["conv_layout"] in ("channels_last", "contiguous")
    assert summary["device_type"] == "cpu"


def test_layout_override_is_read_once_and_checked():
    try:
        use_environment(read_environment({"SIMRNN_CONV_LAYOUT": "contiguous"}))
        assert hardware.conv_layout() == torch.contiguous_format
        use_environment(read_environment({"SIMRNN_CONV_LAYOUT": "channels_last"}))
        assert hardware.conv_layout() == torch.channels_last
    finally:
        use_environment(None)
    with pytest.raises(UserInputError, match=r"SIMRNN_CONV_LAYOUT='nhwc' is not a layout; expected one of") as info:
        read_environment({"SIMRNN_CONV_LAYOUT": "nhwc"})
    assert info.value.key == "SIMRNN_CONV_LAYOUT"


def test_environment_is_read_once(monkeypatch):
    """Changing os.environ after the first read changes nothing: the entry point's reading holds."""
    use_environment(None)
    try:
        monkeypatch.setenv("SIMRNN_CONV_LAYOUT", "contiguous")
        assert environment().conv_layout == "contiguous"
        monkeypatch.setenv("SIMRNN_CONV_LAYOUT", "channels_last")
        assert environment().conv_layout == "contiguous"
    finally:
        use_environment(None)


def test_timing_picks_the_faster_layout(monkeypatch):
    """With fake timings, the layout that is more than 15 % faster wins; a near tie keeps NCHW."""
    hardware._timed_layout.cache_clear()
    seconds = {torch.contiguous_format: 1.0, torch.channels_last: 0.5}
    monkeypatch.setattr(hardware, "_conv_seconds", lambda shape, device, layout, bf16, **kw: seconds[layout])
    try:
        assert hardware.conv_layout() == torch.channels_last
        hardware._timed_layout.cache_clear()
        seconds[torch.channels_last] = 0.95
        assert hardware.conv_layout() == torch.contiguous_format
    finally:
        hardware._timed_layout.cache_clear()


def test_measured_peak_is_a_positive_rate():
    assert hardware.measured_conv_peak_gflops() > 0
