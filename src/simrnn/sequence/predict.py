"""Load a trained (or imported) sequence run and predict whole sequences.

Time alignment (differs from GrainLearning on purpose): the sequences are padded at the start
with ``pad_length`` copies of their first step, then EVERY window of ``window_size`` steps is
evaluated, so ``predict`` returns ``S - window_size + 1 + pad_length`` steps and element ``k``
estimates original step ``k + window_size - 1 - pad_length`` (the window's last step). With
``pad_length = window_size - 1`` every step 0..S-1 is predicted. GrainLearning stops one window
early (it never predicts step S-1) and its tutorial compares with labels shifted by one step.

Speed: all windows of all sequences go through one batched pass. For the parameter-conditioned
LSTM, :func:`_predict_lstm` never materialises the windows and shares the work they have in
common; what remains is one ``[rows, U + F + 1] x [U + F + 1, 4U]`` product per window step after
the first, on the faster exact float32 backend (:mod:`simrnn.sequence.backend`, timed once per
process), and five element-wise passes. Blocks of windows are shared by one single-threaded
worker per core (:func:`simrnn.cpu.share_work`), so a core busy with another process slows
prediction in proportion instead of stalling every operation. ``benchmarks/sequence.py``
measures it against the products alone (the floor), bf16 and a competing busy process.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from simrnn.cpu import share_work, worker_count
from simrnn.errors import UserInputError
from simrnn.runs import Run
from simrnn.sequence.backend import (
    canonical_precision,
    check_precision,
    gate_backend,
    gate_product,
    matmul_precision,
)
from simrnn.sequence.model import ParamConditionedLSTM

#: Windows per block in :func:`_predict_lstm` (memory about 7 KB per window for U = 200).
CHUNK_ROWS = 1024


class SequenceSurrogate(Protocol):
    """What prediction needs of a registered sequence model (``model(windows [B, W, F], params [B, P])
    -> [B, L]``, its sizes, and the ``registry_name`` that :func:`simrnn.registry.register_model` sets).

    A model whose registry name is in ``_WHOLE_SEQUENCE_PATHS`` is predicted by that function
    (shared work between overlapping windows); any other one window by window.
    """

    registry_name: str
    n_input_features: int
    n_params: int

    def __call__(self, windows: torch.Tensor, params: torch.Tensor) -> torch.Tensor: ...


@dataclass
class SequenceRun:
    """A loaded sequence surrogate: the model in eval mode plus what is needed to use it.

    ``meta`` keys: window_size, pad_length, input_features [F], param_names [P],
    output_labels [L], output_mean [L], output_std [L], standardize_outputs.
    """

    path: Path | None
    model: SequenceSurrogate
    meta: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def window_size(self) -> int:
        return int(self.meta["window_size"])

    @property
    def pad_length(self) -> int:
        return int(self.meta.get("pad_length", 0))

    @property
    def output_labels(self) -> list[str]:
        return list(self.meta["output_labels"])

    def first_predicted_step(self) -> int:
        """Original time step estimated by element 0 of :func:`predict`'s output."""
        return self.window_size - 1 - self.pad_length


#: ``data_meta`` keys a sequence run must have (checked by :meth:`simrnn.runs.Run.open`).
META_KEYS = ("window_size", "input_features", "param_names", "output_labels", "output_mean", "output_std")


def load_run(path: str | Path, which: str = "best") -> SequenceRun:
    """Open a sequence run directory (trained or imported) from its ``best`` or ``last`` checkpoint.

    Validated by :meth:`simrnn.runs.Run.open` (a fields run, a crafted checkpoint or an incomplete
    ``data_meta`` is refused in one sentence).
    """
    run = Run.open(path, "sequence", which=which, meta_keys=META_KEYS)
    return SequenceRun(path=run.path, model=run.model, meta=run.meta, config=run.config)


def _as_float_tensor(array, name: str, ndim: int) -> torch.Tensor:
    tensor = torch.as_tensor(np.asarray(array, dtype=np.float32))
    if tensor.ndim != ndim:
        raise UserInputError(f"{name} must have {ndim} dimensions, got shape {list(tensor.shape)}.")
    return tensor


def _pad_start(inputs: torch.Tensor, window_size: int, pad_length: int) -> torch.Tensor:
    """``[N, S, F] -> [N, S + pad_length, F]`` with copies of step 0 in front; checks the length."""
    if pad_length > 0:
        inputs = torch.cat([inputs[:, :1].expand(-1, pad_length, -1), inputs], dim=1)
    if inputs.shape[1] < window_size:
        raise UserInputError(
            f"sequences have {inputs.shape[1]} steps (after padding), fewer than window_size {window_size}."
        )
    return inputs


def sliding_windows(inputs: torch.Tensor, window_size: int, pad_length: int) -> torch.Tensor:
    """All windows of every sequence, padded at the start with copies of the first step.

    Args:
        inputs: ``[N, S, F]``.

    Returns:
        ``[N, K, W, F]`` with ``K = S + pad_length - W + 1``; window ``k`` ends at padded step
        ``k + W - 1``. A view (no copy) when ``pad_length`` is 0.
    """
    return _pad_start(inputs, window_size, pad_length).unfold(1, window_size, 1).permute(0, 1, 3, 2)


def _gate_weights(lstm: torch.nn.LSTM) -> tuple[torch.Tensor, torch.Tensor]:
    """Stacked transposed LSTM weights ``[W_hh^T; W_ih^T; b] [U + F + 1, 4U]`` and ``W_hh^T [U, 4U]``.

    One GEMM ``[h, x, 1] @ stacked`` gives all gate pre-activations (i, f, g, o) of a step. The g
    columns are multiplied by -2 (exact in floating point), so that ONE sigmoid over all gates
    also gives ``tanh(g) = 1 - 2 sigmoid(-2g)``: on CPU a tanh costs about three sigmoids.
    """
    units = lstm.hidden_size
    scale = torch.ones(4 * units, 1, device=lstm.weight_hh_l0.device, dtype=lstm.weight_hh_l0.dtype)
    scale[2 * units : 3 * units] = -2.0
    bias = (lstm.bias_ih_l0 + lstm.bias_hh_l0)[:, None]
    stacked = (torch.cat([lstm.weight_hh_l0, lstm.weight_ih_l0, bias], dim=1) * scale).t().contiguous()
    return stacked, stacked[:units]


def _lstm_cell_(s: torch.Tensor, d: torch.Tensor, h_out: torch.Tensor, scratch: torch.Tensor) -> None:
    """One LSTM step from the gates' sigmoids, in place, on the scaled cell state ``d = -2c``.

    With ``s = sigmoid(gates)`` (g scaled by -2, so ``tanh(g) = 1 - 2 s_g``) and
    ``tanh(c) = 1 - 2 sigmoid(-2c)``::

        d <- -2 (s_f c + s_i tanh(g)) = s_f d + 4 s_i s_g - 2 s_i
        h  = s_o tanh(c) = s_o - 2 s_o sigmoid(d)

    Five element-wise passes per step, none allocating: every pass is a parallel region, and
    fewer regions also degrade less on an oversubscribed CPU.

    Args:
        s: ``[R, 4U]`` sigmoids of the pre-activations i, f, -2g, o.
        d: ``[R, U]``, updated in place.
        h_out: ``[R, U]`` (may be strided), receives h.
        scratch: ``[R, U]`` work space.
    """
    i, f, g, o = s.chunk(4, dim=1)
    d.mul_(f).addcmul_(i, g, value=4.0).sub_(i, alpha=2.0)
    torch.addcmul(o, o, torch.sigmoid(d, out=scratch), value=-2.0, out=h_out)


def _predict_lstm(model: ParamConditionedLSTM, x: torch.Tensor, p: torch.Tensor, window_size: int,
                  chunk_rows: int = CHUNK_ROWS, backend: str | None = None,
                  workers: int | None = None) -> torch.Tensor:
    """Every window of every sequence through a :class:`ParamConditionedLSTM`, without building windows.

    Equals ``model(windows, params)`` on all windows up to float32 rounding, sharing work: the
    first step's ``h0 W_hh`` is computed once per sequence (all its windows start from the same
    ``h0, c0``), each later step is ONE product ``sigmoid([h, x_t, 1] @ [W_hh^T; W_ih^T; b])`` on
    the fastest backend of :mod:`simrnn.sequence.backend` (no separate input projection, one
    sigmoid pass serves all gates: :func:`_gate_weights`). Rows are time-major (``k * N + n``).
    Window positions are processed in blocks of about ``chunk_rows`` windows (at least one
    position, i.e. N windows) in buffers allocated once per worker, which bounds the memory to
    about 7 KB per window and worker for U = 200 and keeps the element-wise work in cache.

    With ``workers`` (CPU) that many threads each take the next block when done with one, running
    it with ONE PyTorch thread (:func:`simrnn.cpu.share_work`): no operation waits for a thread on
    a busy core, and a worker on a core shared with another process simply does fewer blocks.

    Args:
        x: padded load paths ``[N, S, F]``.
        p: parameters ``[N, P]``.
        backend: a name from :data:`simrnn.sequence.backend.BACKENDS`; default: the timed choice.
        workers: CPU threads sharing the blocks; None: this thread alone, with PyTorch's own
            intra-op threads (GPU, or what this function did before).

    Returns:
        Standardised outputs ``[N, K, L]``, ``K = S - window_size + 1``; window ``k`` ends at step
        ``k + window_size - 1``.
    """
    n, s, f = x.shape
    units, k_total = model.lstm.hidden_size, s - window_size + 1
    stacked, w_hh = _gate_weights(model.lstm)
    block = max(1, min(k_total, chunk_rows // n))
    rows = block * n
    gates = gate_product(backend or gate_backend(stacked, rows), stacked)
    x_time = x.transpose(0, 1)  # [S, N, F]
    first = torch.tanh(model.state_h(p)) @ w_hh  # h0 W_hh  [N, 4U]
    d0 = torch.tanh(model.state_c(p)).mul_(-2.0)  # scaled cell state -2 c0  [N, U]
    out = x.new_empty(k_total, n, model.n_outputs)
    starts = iter(range(0, k_total, block))
    lock = threading.Lock()

    def run_blocks() -> None:
        hx1_buffer = x.new_ones(rows, units + f + 1)  # [h, x, 1] per window  [rows, U + F + 1]
        gate_buffer = x.new_empty(rows, 4 * units)
        d_buffer, scratch_buffer = x.new_empty(rows, units), x.new_empty(rows, units)
        while True:
            with lock:
                k0 = next(starts, None)
            if k0 is None:
                return
            m = min(k_total, k0 + block) - k0
            hx1, d, scratch = hx1_buffer[: m * n], d_buffer[: m * n], scratch_buffer[: m * n]
            h, xs = hx1[:, :units], hx1[:, units : units + f]
            xs.view(m, n, f).copy_(x_time[k0 : k0 + m])
            first_gates = torch.mm(hx1[:, units:], stacked[units:], out=gate_buffer[: m * n])
            first_gates.view(m, n, -1).add_(first).sigmoid_()
            d.view(m, n, units).copy_(d0.expand(m, n, units))
            _lstm_cell_(first_gates, d, h, scratch)
            for j in range(1, window_size):
                xs.view(m, n, f).copy_(x_time[k0 + j : k0 + j + m])
                _lstm_cell_(gates(hx1, gate_buffer), d, h, scratch)
            hidden = torch.relu_(torch.addmm(model.dense.bias, h, model.dense.weight.t()))
            out[k0 : k0 + m] = torch.addmm(model.head.bias, hidden, model.head.weight.t()).view(m, n, -1)

    if workers is None:
        run_blocks()
    else:
        share_work(run_blocks, min(workers, -(-k_total // block)))
    return out.permute(1, 0, 2)


def predict(run: SequenceRun, inputs, params, *, precision: str = "fp32", threads: int | None = None,
            backend: str | None = None) -> np.ndarray:
    """Predict whole sequences, un-standardised, in one batched pass over all windows.

    The registered ``lstm`` takes the shared-work path :func:`_predict_lstm` (``_WHOLE_SEQUENCE_PATHS``); any other
    model is called once on all windows.

    Args:
        run: from :func:`load_run` or :func:`simrnn.sequence.import_keras`.
        inputs: load paths ``[N, S, F]`` (same features and units as in training).
        params: parameters ``[N, P]`` in the run's ``param_names`` order.
        precision: ``"fp32"`` (exact), or ``"bf16"``: matrix products in bfloat16 with float32
            accumulation where the CPU has bf16 dot products (AVX-512 BF16 / AMX), refused
            elsewhere; its error against fp32 is measured in ``benchmarks/sequence.py``.
        threads: CPU threads sharing the LSTM's blocks (:func:`_predict_lstm`); default: the
            cores of the affinity mask, never more than ``torch.get_num_threads()``.
        backend: the LSTM's gate-product backend (:data:`simrnn.sequence.backend.BACKENDS`);
            default: the faster one, timed once per process. All give the same results up to
            float32 rounding.

    Returns:
        ``[N, S - window_size + 1 + pad_length, L]``; element ``k`` estimates original step
        ``k + window_size - 1 - pad_length``.
    """
    x = _as_float_tensor(inputs, "inputs [N, S, F]", 3)
    p = _as_float_tensor(params, "params [N, P]", 2)
    model = run.model
    if x.shape[2] != model.n_input_features:
        raise UserInputError(
            f"inputs have {x.shape[2]} features per step; the model expects {model.n_input_features} "
            f"({', '.join(run.meta.get('input_features', []))})."
        )
    if p.shape != (x.shape[0], model.n_params):
        raise UserInputError(
            f"params must be [N={x.shape[0]}, {model.n_params}] "
            f"({', '.join(run.meta.get('param_names', []))}), got {list(p.shape)}."
        )
    device = next(model.parameters()).device
    precision = canonical_precision(precision)
    check_precision(precision, device)
    workers = worker_count(threads) if device.type == "cpu" else None
    with matmul_precision(precision), torch.inference_mode():
        out = _predict_standardised(run, x.to(device), p.to(device), backend, workers).cpu().numpy()
    if run.meta.get("standardize_outputs", True):
        out = out * np.asarray(run.meta["output_std"], np.float32) + np.asarray(run.meta["output_mean"], np.float32)
    return out


def _predict_standardised(run: SequenceRun, x: torch.Tensor, p: torch.Tensor, backend: str | None,
                          workers: int | None) -> torch.Tensor:
    """``x [N, S, F], p [N, P] -> [N, S - W + 1 + pad, L]`` standardised, on the model's device."""
    model = run.model
    whole_sequences = _WHOLE_SEQUENCE_PATHS.get(model.registry_name)
    if whole_sequences is not None:
        x = _pad_start(x, run.window_size, run.pad_length)
        return whole_sequences(model, x, p, run.window_size, backend=backend, workers=workers)
    windows = sliding_windows(x, run.window_size, run.pad_length)
    n, k = windows.shape[:2]
    out = model(windows.reshape(n * k, run.window_size, x.shape[2]), p.repeat_interleave(k, dim=0))
    return out.view(n, k, -1)


#: registry name -> predictor of whole padded sequences ``(model, x [N, S', F], p [N, P], window_size,
#: backend=, workers=) -> [N, S' - W + 1, L]`` that shares the work of overlapping windows.
_WHOLE_SEQUENCE_PATHS = {"lstm": _predict_lstm}
