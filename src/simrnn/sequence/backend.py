"""The gate product of the LSTM prediction path, on the fastest backend this process finds.

Every LSTM window step after the first is one product ``sigmoid([h, x, 1] @ W)`` with ``W [U + F
+ 1, 4U]`` (:func:`simrnn.sequence.predict._gate_weights`). Two exact float32 candidates compute
it on CPU:

- ``"mm"``: ``torch.mm`` (MKL's sgemm in PyTorch's CPU builds, cuBLAS on GPU) into a reused
  buffer, then an in-place sigmoid;
- ``"onednn"``: oneDNN's inner product with the weight reordered once into its blocked layout
  and the sigmoid fused as a post-op (``torch.ops.mkldnn._linear_pointwise``).

Both round the same float32 products (they agree to about 1e-6 relative), so the choice never
changes results beyond rounding. :func:`gate_backend` times them once per process and weight
shape on a block of the size prediction uses (alternating, best of a few), because which is
faster depends on the CPU and the library versions, not on anything that can be assumed.

``precision="bf16"`` (:func:`matmul_precision`) keeps every tensor in float32 and lets oneDNN
multiply in bfloat16 with float32 accumulation (``torch.backends.mkldnn.matmul.fp32_precision``);
it needs bf16 dot products in hardware (:func:`simrnn.cpu.has_bf16`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import torch

from simrnn.cpu import has_bf16
from simrnn.errors import UserInputError

#: Gate-product backends, in the order they are tried.
BACKENDS = ("mm", "onednn")
PRECISIONS = ("fp32", "bf16")
_TIMING_REPEATS = 5

GateProduct = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
_CHOSEN: dict[tuple, str] = {}


def gate_product(name: str, weights: torch.Tensor, activation: str = "sigmoid") -> GateProduct:
    """``f(hx [R, K], buffer [>=R, N]) -> sigmoid(hx @ weights)  [R, N]`` on backend ``name``.

    Args:
        name: one of :data:`BACKENDS`.
        weights: ``[K, N]`` float32 (for the LSTM ``K = U + F + 1``, ``N = 4U``).
        activation: ``"sigmoid"``, or ``"none"`` for the bare product (the benchmark's floor).

    The ``"mm"`` product writes into ``buffer``; the ``"onednn"`` one returns a new tensor.
    """
    if activation not in ("sigmoid", "none"):
        raise ValueError(f"activation must be 'sigmoid' or 'none', got {activation!r}")
    if name == "mm":
        if activation == "none":
            return lambda hx, buffer: torch.mm(hx, weights, out=buffer[: hx.shape[0]])
        return lambda hx, buffer: torch.mm(hx, weights, out=buffer[: hx.shape[0]]).sigmoid_()
    if name == "onednn":
        packed = torch.ops.mkldnn._reorder_linear_weight(weights.t().contiguous())
        return lambda hx, buffer: torch.ops.mkldnn._linear_pointwise(hx, packed, None, activation, [], "")
    raise ValueError(f"unknown gate backend {name!r}; expected one of {BACKENDS}")


def _candidates(device: torch.device) -> tuple[str, ...]:
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return ("mm",)
    return BACKENDS


def _seconds(product: GateProduct, hx: torch.Tensor, buffer: torch.Tensor) -> float:
    start = time.perf_counter()
    product(hx, buffer)
    return time.perf_counter() - start


@torch.inference_mode()
def gate_backend(weights: torch.Tensor, rows: int) -> str:
    """The faster gate-product backend for ``weights [K, N]`` on blocks of ``rows`` rows, timed once.

    Each candidate runs once to warm up, then :data:`_TIMING_REPEATS` times alternating with the
    others; the best time wins. The answer is kept for the rest of the process per (device, K, N,
    rows, matmul precision), so a timing costs a few milliseconds once.
    """
    key = (weights.device.type, *weights.shape, rows, torch.backends.mkldnn.matmul.fp32_precision)
    if key not in _CHOSEN:
        names = _candidates(weights.device)
        if len(names) == 1:
            _CHOSEN[key] = names[0]
        else:
            generator = torch.Generator(device=weights.device).manual_seed(0)
            hx = torch.rand(rows, weights.shape[0], generator=generator, device=weights.device)
            buffer = hx.new_empty(rows, weights.shape[1])
            products = {name: gate_product(name, weights) for name in names}
            best = dict.fromkeys(names, float("inf"))
            for product in products.values():
                product(hx, buffer)
            for _ in range(_TIMING_REPEATS):
                for name, product in products.items():
                    best[name] = min(best[name], _seconds(product, hx, buffer))
            _CHOSEN[key] = min(best, key=best.get)
    return _CHOSEN[key]


#: training's (Lightning's) precision names accepted for prediction too, so one name works everywhere.
PRECISION_ALIASES = {"32-true": "fp32", "32": "fp32", "bf16-mixed": "bf16", "bf16-true": "bf16"}


def canonical_precision(precision: str) -> str:
    """``"32-true"`` -> ``"fp32"``, ``"bf16-mixed"`` -> ``"bf16"`` (Lightning's names); others unchanged."""
    return PRECISION_ALIASES.get(precision, precision)


def check_precision(precision: str, device: torch.device) -> None:
    """Refuse an unknown precision, or bf16 where the hardware has no bf16 dot products (one sentence)."""
    if precision not in PRECISIONS:
        raise UserInputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r} (training's "
                             f"names {', '.join(PRECISION_ALIASES)} are accepted too).")
    if precision == "bf16" and (device.type != "cpu" or not has_bf16()):
        raise UserInputError(
            "precision='bf16' needs a CPU with AVX-512 BF16 or AMX bf16 dot products, which this "
            f"{'device' if device.type != 'cpu' else 'CPU'} lacks; use precision='fp32'."
        )


@contextlib.contextmanager
def matmul_precision(precision: str) -> Iterator[None]:
    """Float32 matrix products in ``precision`` inside the block ("bf16": oneDNN's bf16 math mode)."""
    if precision == "fp32":
        yield
        return
    previous = torch.backends.mkldnn.matmul.fp32_precision
    torch.backends.mkldnn.matmul.fp32_precision = "bf16"
    try:
        yield
    finally:
        torch.backends.mkldnn.matmul.fp32_precision = previous
