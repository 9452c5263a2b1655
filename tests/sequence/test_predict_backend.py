"""Prediction backends: every gate-product backend, worker count and block size gives the same
numbers up to float32 rounding; bf16 stays within its stated error or is refused in one sentence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from simrnn.cpu import cpu_flags, has_bf16, share_work, torch_threads, worker_count
from simrnn.errors import UserInputError
from simrnn.sequence import backend as backend_module
from simrnn.sequence import import_keras, load_run, predict
from simrnn.sequence.backend import BACKENDS, check_precision, gate_backend, gate_product
from simrnn.sequence.predict import _pad_start, _predict_lstm

DATA = Path(__file__).resolve().parents[1] / "data" / "grainlearning"


@pytest.fixture(scope="module")
def drained(tmp_path_factory):
    return load_run(import_keras(DATA / "rnn_triaxial_drained", out=tmp_path_factory.mktemp("imp") / "drained"))


@pytest.fixture(scope="module")
def reference():
    with np.load(DATA / "rnn_triaxial_drained" / "reference_predictions.npz") as z:
        return {k: z[k] for k in z.files}


def batch(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Drained load paths ``[n, 40, 1]`` and parameters ``[n, 6]`` within GrainLearning's ranges."""
    rng = np.random.default_rng(seed)
    inputs = np.broadcast_to(np.arange(40, dtype=np.float32)[None, :, None] * 1e-3, (n, 40, 1)).copy()
    params = np.column_stack([rng.uniform([7, 0, 0, 0, 0], [10, 0.5, 1, 1, 60], (n, 5)), np.full(n, 0.2)])
    return inputs, params.astype(np.float32)


@pytest.mark.parametrize("name", BACKENDS)
def test_gate_product_is_sigmoid_of_the_float32_product(name):
    g = torch.Generator().manual_seed(0)
    weights, hx = torch.randn(9, 12, generator=g), torch.randn(5, 9, generator=g)
    with torch.inference_mode():
        got = gate_product(name, weights)(hx, torch.empty(8, 12))
        bare = gate_product(name, weights, activation="none")(hx, torch.empty(8, 12))
    expected = (hx.double() @ weights.double())
    assert got.shape == (5, 12)
    torch.testing.assert_close(got.double(), torch.sigmoid(expected), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(bare.double(), expected, rtol=1e-5, atol=1e-5)


def test_unknown_backend_and_activation_are_refused():
    with pytest.raises(ValueError, match="unknown gate backend"):
        gate_product("cublas", torch.zeros(2, 2))
    with pytest.raises(ValueError, match="activation"):
        gate_product("mm", torch.zeros(2, 2), activation="tanh")


def test_gate_backend_is_timed_once_and_is_a_candidate(monkeypatch):
    weights = torch.randn(11, 16)
    monkeypatch.setattr(backend_module, "_CHOSEN", {})
    first = gate_backend(weights, 64)
    assert first in BACKENDS
    monkeypatch.setattr(backend_module, "_seconds", lambda *a: pytest.fail("timed twice"))
    assert gate_backend(weights, 64) == first


def test_every_backend_and_worker_count_gives_the_same_predictions(drained):
    """The backend choice and the sharing never change results beyond float32 rounding."""
    inputs, params = batch(7)
    base = predict(drained, inputs, params, backend="mm", threads=1)
    assert base.shape == (7, 40 - 4 + 1, 7)
    scale = np.abs(base).max(axis=(0, 1))
    for name in BACKENDS:
        for threads in (1, 2):
            got = predict(drained, inputs, params, backend=name, threads=threads)
            assert (np.abs(got - base).max(axis=(0, 1)) / scale).max() < 1e-5  # relative, per label
    with torch.inference_mode():
        x, p = _pad_start(torch.from_numpy(inputs), 4, 0), torch.from_numpy(params)
        blocks_of_one = _predict_lstm(drained.model, x, p, 4, chunk_rows=1, workers=2)  # 37 blocks, 2 workers
        own_threads = _predict_lstm(drained.model, x, p, 4)  # this thread, PyTorch's threads
        windows = x.unfold(1, 4, 1).permute(0, 1, 3, 2).reshape(-1, 4, 1)
        module = drained.model(windows, p.repeat_interleave(37, 0)).view(7, 37, -1)
    torch.testing.assert_close(blocks_of_one, module, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(own_threads, module, rtol=1e-5, atol=1e-5)


def test_default_path_reproduces_grainlearning(drained, reference):
    pred = predict(drained, reference["inputs"], reference["params"])
    err = np.abs(pred[:, :196] - reference["predictions"]) / reference["output_std"]
    assert err.max() < 1e-4


@pytest.mark.skipif(not has_bf16(), reason="oneDNN does not multiply float32 in bf16 on this CPU (no AVX-512 BF16 / AMX, or not used)")
def test_bf16_error_against_fp32_on_the_drained_model(drained, reference):
    """bf16 products: RMS error per label below 1e-2 x std, worst step below 0.15 x std (measured
    0.004-0.007 and 0.03-0.09 on 500 sequences, benchmarks/sequence.py)."""
    fp32 = predict(drained, reference["inputs"], reference["params"])
    bf16 = predict(drained, reference["inputs"], reference["params"], precision="bf16")
    err = np.abs(bf16 - fp32) / reference["output_std"]
    assert np.sqrt((err**2).mean(axis=(0, 1))).max() < 1e-2
    assert err.max() < 0.15
    assert err.max() > 1e-5  # bf16 really was used
    assert torch.backends.mkldnn.matmul.fp32_precision != "bf16"  # restored afterwards


def test_precision_is_checked_in_one_sentence(drained, monkeypatch):
    inputs, params = batch(2)
    with pytest.raises(UserInputError, match="precision must be one of fp32, bf16, got 'fp16'"):
        predict(drained, inputs, params, precision="fp16")
    monkeypatch.setattr(backend_module, "has_bf16", lambda: False)
    with pytest.raises(UserInputError, match="AVX-512 BF16 or AMX.*use precision='fp32'"):
        check_precision("bf16", torch.device("cpu"))


def test_workers_respect_the_callers_thread_setting_and_restore_it():
    with torch_threads(1):
        assert worker_count() == 1
        assert worker_count(limit=8) >= 1
    before = torch.get_num_threads()
    seen = []

    def job():
        seen.append((torch.get_num_threads(), torch.is_inference_mode_enabled()))

    share_work(job, 2)
    assert seen == [(1, True), (1, True)]
    assert torch.get_num_threads() == before


def test_share_work_reraises_a_workers_error():
    def job():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        share_work(job, 2)


def test_cpu_flags_name_the_kernel_deciding_instruction_sets():
    flags = cpu_flags()
    assert set(flags) == {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "torch_capability"}
    assert all(isinstance(flags[k], bool) for k in ("avx2", "avx512f", "avx512_bf16", "amx_bf16"))
    if has_bf16():
        assert flags["avx512_bf16"] or flags["amx_bf16"]
