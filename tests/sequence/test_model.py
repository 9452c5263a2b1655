import pytest
import torch

from simrnn.registry import build_model, model_names
from simrnn.sequence.model import ParamConditionedLSTM


def make_model():
    torch.manual_seed(0)
    return ParamConditionedLSTM(n_input_features=3, n_params=6, n_outputs=7, hidden_size=16, dense_size=8)


def test_output_shape():
    assert make_model()(torch.randn(5, 4, 3), torch.randn(5, 6)).shape == (5, 7)


def test_every_parameter_receives_a_gradient():
    model = make_model()
    model(torch.randn(5, 4, 3), torch.randn(5, 6)).pow(2).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert missing == []


def test_initial_state_depends_on_params():
    model = make_model()
    x = torch.randn(1, 4, 3).expand(2, -1, -1)
    out = model(x, torch.stack([torch.zeros(6), torch.ones(6)]))
    assert not torch.allclose(out[0], out[1])


def test_wrong_layout_names_the_expected_one():
    with pytest.raises(ValueError, match=r"windows must be \[batch, window, 3\], got \[5, 4\]"):
        make_model()(torch.randn(5, 4), torch.randn(5, 6))
    with pytest.raises(ValueError, match=r"params must be \[batch=5, 6\], got \[5, 2\]"):
        make_model()(torch.randn(5, 4, 3), torch.randn(5, 2))


def test_registry_builds_it():
    assert "lstm" in model_names("sequence")
    assert isinstance(build_model("lstm", n_input_features=1, n_params=5, n_outputs=7, hidden_size=4, dense_size=4), ParamConditionedLSTM)
