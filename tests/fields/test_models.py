"""Every registered field model: exact shapes on odd grids, [0, 1] output, gradients everywhere,
checkpoint round trip, shape errors. Parametrised over the registry, so a new model is tested too."""

from __future__ import annotations

import copy

import pytest
import torch
from single_thread import one_thread  # noqa: F401  (autouse fixture)

import simrnn.fields  # noqa: F401  (registers the field models)
from simrnn.checkpoints import model_from_checkpoint, read_checkpoint, write_checkpoint
from simrnn.fields.models import GATE_BIAS, OUTPUTS, RESIDUAL_EPS, RESIDUAL_HEAD_SCALE, count_parameters
from simrnn.registry import build_model, model_names

NAMES = model_names("fields")
#: tiny widths keep every test well under a second on 2 cores.
TINY = {"hidden_channels": 4, "n_layers": 2, "encoder_channels": [4, 6, 8]}


def tiny_model(name: str, **overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(name, **{**TINY, **overrides})


def inputs(height: int, width: int, batch: int = 2, length: int = 3, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    context = torch.rand(batch, length, 10, height, width, generator=generator)
    future_temp = torch.rand(batch, 1, height, width, generator=generator)
    return context, future_temp


def test_registry_holds_both_field_models():
    assert {"cnn-lstm", "predrnn"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("grid", [(47, 465), (94, 47), (33, 65)])
def test_output_is_exactly_the_input_grid_and_in_unit_interval(name, grid):
    model = tiny_model(name)
    with torch.no_grad():
        pred = model(*inputs(*grid, batch=1, length=2))
    assert pred.shape == (1, 9, *grid)
    assert pred.min() >= 0.0 and pred.max() <= 1.0
    assert pred.std() > 0  # not a constant map


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("skip", [False, True])
@pytest.mark.parametrize("output", OUTPUTS)
def test_every_parameter_receives_a_nonzero_gradient(name, skip, output):
    model = tiny_model(name, skip=skip, output=output)
    context, future_temp = inputs(20, 27)
    target = torch.rand(2, 9, 20, 27, generator=torch.Generator().manual_seed(5))
    pred, aux = model.forward_with_aux(context, future_temp)
    loss = torch.nn.functional.mse_loss(pred, target) + sum(aux.values())
    loss.backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert dead == []


@pytest.mark.parametrize("name", NAMES)
def test_forward_is_forward_with_aux_without_aux(name):
    model = tiny_model(name)
    context, future_temp = inputs(17, 19)
    with torch.no_grad():
        pred, aux = model.forward_with_aux(context, future_temp)
        assert torch.equal(model(context, future_temp), pred)
    assert all(value.dim() == 0 for value in aux.values())


def test_cnn_lstm_has_no_aux_and_predrnn_returns_a_decouple_cosine():
    context, future_temp = inputs(16, 24)
    assert tiny_model("cnn-lstm").forward_with_aux(context, future_temp)[1] == {}
    aux = tiny_model("predrnn").forward_with_aux(context, future_temp)[1]
    assert list(aux) == ["decouple"]
    assert 0.0 < aux["decouple"].item() < 1.0


@pytest.mark.parametrize("output", OUTPUTS)
def test_spatiotemporal_memory_changes_the_predrnn_output(output):
    """Cut M out of the hidden state (its halves of conv_o and conv_last): the prediction moves
    (the untrained residual heads are RESIDUAL_HEAD_SCALE times smaller, and so is the change;
    the gate, near sigmoid(GATE_BIAS), shrinks it once more)."""
    model = tiny_model("predrnn", output=output)
    cut = copy.deepcopy(model)
    hidden = TINY["hidden_channels"]
    with torch.no_grad():
        for cell in cut.core.cells:
            cell.conv_o.weight[:, hidden:] = 0
            cell.conv_last.weight[:, hidden:] = 0
        context, future_temp = inputs(24, 32)
        change = (model(context, future_temp) - cut(context, future_temp)).abs().max().item()
    scale = {"direct": 1.0, "logit": RESIDUAL_HEAD_SCALE, "gated": RESIDUAL_HEAD_SCALE * 0.04}[output]
    assert change > 1e-3 * scale


@pytest.mark.parametrize("name", NAMES)
def test_untrained_residual_models_start_at_persistence_and_direct_does_not(name):
    context, future_temp = inputs(19, 33)
    context[:, -1, 1:5] = torch.bernoulli(torch.full_like(context[:, -1, 1:5], 0.5))  # exact 0 (molten) and 1
    last = context[:, -1, 1:]
    with torch.no_grad():
        logit = tiny_model(name, output="logit")(context, future_temp)
        gated = tiny_model(name, output="gated")(context, future_temp)
        direct = tiny_model(name, output="direct")(context, future_temp)
    assert 0 < (logit - last.clamp(RESIDUAL_EPS, 1 - RESIDUAL_EPS)).abs().max() < 0.01
    # gated: last + g (0.5 - last) with g ~ sigmoid(GATE_BIAS), so at most g / 2 (+ the small head) away
    g = torch.sigmoid(torch.tensor(GATE_BIAS)).item()
    assert 0 < (gated - last).abs().max() < 0.5 * g + 0.01
    assert gated.min() >= 0 and gated.max() <= 1
    assert (direct - last).abs().mean() > 0.2  # sigmoid(~0) = 0.5 against uniform values


def test_residual_forms_need_the_predicted_channels_in_the_context():
    for output in ("gated", "logit"):
        with pytest.raises(ValueError, match="last 9 context channels, but the context has only in_channels=4"):
            build_model("cnn-lstm", in_channels=4, out_channels=9, output=output)
    assert build_model("cnn-lstm", in_channels=4, out_channels=9, output="direct").model_args["output"] == "direct"
    with pytest.raises(ValueError, match="output must be one of gated, logit, direct, got 'residual'"):
        build_model("cnn-lstm", output="residual")


def test_gated_output_blends_the_last_frame_with_the_new_colour_by_the_gate():
    """With the decoder replaced by fixed logits, the gated form is exactly last + g (sigmoid(z) - last)."""
    model = tiny_model("cnn-lstm", output="gated")
    context, future_temp = inputs(8, 8)
    z = torch.zeros(2, 10, 8, 8)
    z[:, :9] = 2.0
    z[:, 9] = 0.0  # g = 0.5
    model.decoder.forward = lambda x, skips: z
    with torch.no_grad():
        pred = model(context, future_temp)
    last = context[:, -1, 1:]
    assert torch.allclose(pred, last + 0.5 * (torch.sigmoid(torch.tensor(2.0)) - last), atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("output", OUTPUTS)
def test_checkpoint_round_trip_gives_identical_predictions(name, output, tmp_path):
    model = tiny_model(name, skip=True, output=output).eval()
    path = write_checkpoint(tmp_path / "m.ckpt", model, {"model_name": name, "model_args": model.model_args})
    loaded = model_from_checkpoint(read_checkpoint(path))
    context, future_temp = inputs(21, 30)
    assert loaded.output == output
    with torch.no_grad():
        assert torch.equal(loaded(context, future_temp), model(context, future_temp))


@pytest.mark.parametrize("name", NAMES)
def test_memory_layouts_agree_to_fp32_rounding(name):
    model = tiny_model(name).eval()
    context, future_temp = inputs(23, 41)
    with torch.no_grad():
        model.layout = torch.contiguous_format
        nchw = model(context, future_temp)
        model.layout = torch.channels_last
        channels_last = model(context, future_temp)
    torch.testing.assert_close(channels_last, nchw, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_samples_in_a_batch_do_not_influence_each_other(name):
    model = tiny_model(name).eval()
    context, future_temp = inputs(16, 16, batch=3)
    with torch.no_grad():
        together = model(context, future_temp)
        alone = model(context[1:2], future_temp[1:2])
    torch.testing.assert_close(together[1:2], alone, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_bf16_autocast_stays_close_to_fp32(name):
    model = tiny_model(name).eval()
    context, future_temp = inputs(16, 24)
    with torch.no_grad():
        fp32 = model(context, future_temp)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = model(context, future_temp)
    assert (bf16.float() - fp32).abs().max() < 0.05


@pytest.mark.parametrize("name", NAMES)
def test_bad_shapes_name_the_expected_layout(name):
    model = tiny_model(name)
    context, future_temp = inputs(16, 24)
    with pytest.raises(ValueError, match=r"context must be \[batch, length, 10 channels .*got \[2, 10, 16, 24\]"):
        model(context[:, 0], future_temp)
    with pytest.raises(ValueError, match=r"context must be \[batch, length, 10 channels"):
        model(context[:, :, :9], future_temp)
    with pytest.raises(ValueError, match=r"future_temp must be \[batch=2, 1, height=16, width=24\].*got \[2, 1, 16, 23\]"):
        model(context, future_temp[..., :23])


@pytest.mark.parametrize(
    ("name", "n_layers", "expected"),
    [
        ("cnn-lstm", 1, 440_425),  # LASERNet's MicrostructureCNN_LSTM, 1 layer: identical
        ("cnn-lstm", 4, 1_325_929),  # LASERNet's, 4 layers: identical
        # LASERNet: 2,357,609. Per layer +36,864 (conv_o reads [C, M], not C), +8,192 (the 1x1
        # fusion of [C, M] into H), +512 (gate and fusion biases), -128 (no LayerNorm);
        # plus the shared 4,096-weight decoupling adapter.
        ("predrnn", 4, 2_543_465),
    ],
)
def test_parameter_counts_at_lasernet_settings(name, n_layers, expected):
    """The logit form adds no parameter, so LASERNet's comparison holds for it and the direct form; the
    gated form's head has one more output channel (16 weights + 1 bias at encoder width 16)."""
    for output in ("logit", "direct"):
        assert count_parameters(build_model(name, n_layers=n_layers, output=output)) == expected
    assert count_parameters(build_model(name, n_layers=n_layers, output="gated")) == expected + 17



def test_layout_is_chosen_at_build_and_forward_never_probes(monkeypatch):
    """The layout is the build-time choice (stored on the model); forward reads neither timings nor env."""
    from simrnn.fields import hardware, models

    model = tiny_model("cnn-lstm").eval()
    assert model.layout == hardware.conv_layout("cpu")

    def no_probe(*args, **kwargs):
        raise AssertionError("forward must not choose a layout")

    monkeypatch.setattr(models, "conv_layout", no_probe)
    monkeypatch.setattr(hardware, "conv_layout", no_probe)
    with torch.no_grad():
        assert model(*inputs(9, 17)).shape == (2, 9, 9, 17)
