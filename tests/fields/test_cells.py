"""ConvLSTM and ST-LSTM cells and stacks: gate wiring, forget bias, zig-zag memory, decoupling."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from single_thread import one_thread  # noqa: F401  (autouse fixture)

from simrnn.fields.cells import ConvLSTMCell, STLSTMCell
from simrnn.fields.cores import ConvLSTMStack, PredRNNStack

HID = 3


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def steps(length, *shape, seed=0):
    """A core's input: ``length`` encoded frames ``[B, C, h, w]``."""
    return list(rand(length, *shape, seed=seed).unbind(0))


def test_convlstm_cell_is_one_conv_over_x_and_h_with_forget_bias_one():
    torch.manual_seed(0)
    cell = ConvLSTMCell(in_channels=2, hidden_channels=HID)
    bias = cell.gates.bias.detach()
    assert torch.equal(bias[HID:2 * HID], torch.ones(HID))
    assert torch.equal(bias[:HID], torch.zeros(HID)) and torch.equal(bias[2 * HID:], torch.zeros(2 * HID))
    x, h, c = rand(1, 2, 5, 6, seed=1), rand(1, HID, 5, 6, seed=2), rand(1, HID, 5, 6, seed=3)
    gates = F.conv2d(torch.cat([x, h], 1), cell.gates.weight, cell.gates.bias, padding=1)
    i, f, g, o = gates.sigmoid()[:, :HID], gates.sigmoid()[:, HID:2 * HID], gates.tanh()[:, 2 * HID:3 * HID], \
        gates.sigmoid()[:, 3 * HID:]
    c_expected = f * c + i * g
    h_new, c_new = cell(x, (h, c))
    torch.testing.assert_close(c_new, c_expected)
    torch.testing.assert_close(h_new, o * c_expected.tanh())


def test_st_lstm_forget_biases_start_at_one():
    cell = STLSTMCell(in_channels=2, hidden_channels=HID)
    bias = cell.conv_x.bias.detach().view(7, HID)
    assert torch.equal(bias[[1, 4]], torch.ones(2, HID))
    assert torch.equal(bias[[0, 2, 3, 5, 6]], torch.zeros(5, HID))


def jacobian_norm(output: torch.Tensor, source: torch.Tensor) -> float:
    (grad,) = torch.autograd.grad(output.sum(), source, retain_graph=True, allow_unused=True)
    return 0.0 if grad is None else grad.abs().sum().item()


def test_st_lstm_follows_wang_et_al():
    """C's gates read x and h only, M's gates x and M only, and H reads both memories."""
    torch.manual_seed(0)
    cell = STLSTMCell(in_channels=2, hidden_channels=HID)
    x = rand(1, 2, 4, 5, seed=1).requires_grad_()
    h, c, m = (rand(1, HID, 4, 5, seed=s).requires_grad_() for s in (2, 3, 4))
    h_new, c_new, m_new, delta_c, delta_m = cell(x, h, c, m)
    assert jacobian_norm(c_new, m) == 0.0
    assert jacobian_norm(m_new, h) == 0.0 and jacobian_norm(m_new, c) == 0.0
    for source in (x, h, c):
        assert jacobian_norm(c_new, source) > 0
    for source in (x, h, c, m):
        assert jacobian_norm(h_new, source) > 0
    assert jacobian_norm(m_new, m) > 0 and jacobian_norm(m_new, x) > 0
    # the increments come from the gates alone: delta_c from (x, h), delta_m from (x, M)
    assert jacobian_norm(delta_c, c) == 0.0 and jacobian_norm(delta_c, m) == 0.0
    assert jacobian_norm(delta_m, h) == 0.0 and jacobian_norm(delta_m, c) == 0.0
    assert jacobian_norm(delta_c, h) > 0 and jacobian_norm(delta_m, m) > 0


def test_memory_zig_zags_bottom_to_top_then_top_to_next_bottom():
    torch.manual_seed(0)
    stack = PredRNNStack(in_channels=2, hidden_channels=HID, n_layers=3)
    calls = []  # (layer, m given, m returned) in call order
    for k, cell in enumerate(stack.cells):
        cell.register_forward_hook(lambda mod, args, out, k=k: calls.append((k, args[3], out[2])))
    stack(steps(2, 2, 2, 4, 4, seed=1))
    assert [k for k, _, _ in calls] == [0, 1, 2, 0, 1, 2]
    assert torch.equal(calls[0][1], torch.zeros(2, HID, 4, 4))
    for (_, _, given_out), (_, taken, _) in zip(calls[:-1], calls[1:], strict=True):
        assert taken is given_out  # layer k+1 (or the bottom at t+1) gets exactly the last M


@pytest.mark.parametrize("stack_class", [ConvLSTMStack, PredRNNStack])
def test_stack_returns_the_top_layers_last_hidden_state(stack_class):
    torch.manual_seed(0)
    stack = stack_class(in_channels=2, hidden_channels=HID, n_layers=2)
    x = steps(3, 2, 2, 4, 5, seed=1)
    top, aux = stack(x)
    assert top.shape == (2, HID, 4, 5)
    shorter, _ = stack(x[:2])
    assert not torch.allclose(top, shorter)  # the third step matters
    assert aux == {}


def test_decoupling_term_is_the_absolute_spatial_cosine_of_adapted_increments():
    stack = PredRNNStack(in_channels=2, hidden_channels=HID, n_layers=1)
    with torch.no_grad():
        stack.adapter.weight.copy_(torch.eye(HID).view(HID, HID, 1, 1))
        delta = rand(2, HID, 4, 4, seed=1)
        assert stack._abs_cosine(delta, delta).item() == pytest.approx(1.0)
        assert stack._abs_cosine(delta, -delta).item() == pytest.approx(1.0)
        left, right = torch.zeros(2, HID, 4, 4), torch.zeros(2, HID, 4, 4)
        left[..., :2], right[..., 2:] = 1.0, 1.0  # disjoint support: orthogonal
        assert stack._abs_cosine(left, right).item() == pytest.approx(0.0)
        _, aux = stack(steps(2, 2, 2, 4, 4, seed=2), with_aux=True)
    assert 0.0 < aux["decouple"].item() < 1.0
