"""PredRNN-V2's curriculum: schedule end points, which frames are predicted and fed back, training."""

from __future__ import annotations

import json

import pytest
import torch
from field_training import TINY, tiny_cache
from single_thread import one_thread  # noqa: F401  (autouse fixture)

from simrnn.engine import fit
from simrnn.fields.curriculum import predict_sequence, sequence_frames, true_frame_probabilities


@pytest.mark.parametrize(("sampling", "start", "end"), [
    ("reverse", (0.5, 0.5), (1.0, 0.0)),
    ("plain", (1.0, 1.0), (1.0, 0.0)),
    ("off", (1.0, 0.0), (1.0, 0.0)),
])
def test_schedules_run_from_their_start_to_their_end_point_over_the_ramp(sampling, start, end):
    assert true_frame_probabilities(0.0, sampling, ramp=0.8) == start
    assert true_frame_probabilities(0.8, sampling, ramp=0.8) == end
    assert true_frame_probabilities(1.0, sampling, ramp=0.8) == end
    assert true_frame_probabilities(0.0, sampling, ramp=0.0) == end  # no ramp: the end points at once
    mid = true_frame_probabilities(0.4, sampling, ramp=0.8)
    assert mid == pytest.approx(tuple((a + b) / 2 for a, b in zip(start, end, strict=True)))
    with pytest.raises(ValueError, match="sampling must be one of off, plain, reverse"):
        true_frame_probabilities(0.0, "always", 0.8)


class Shift(torch.nn.Module):
    """Predicts the last context frame's IPF + 10 and records the context length of each call."""

    def __init__(self):
        super().__init__()
        self.lengths = []

    def forward_with_aux(self, context, future_temp):
        self.lengths.append(context.shape[1])
        return context[:, -1, 1:] + 10.0, {}


def sequence(n_frames=5, batch=3):
    ipf = torch.arange(n_frames, dtype=torch.float32).reshape(1, n_frames, 1, 1, 1).expand(batch, n_frames, 9, 2, 2)
    return torch.zeros(batch, n_frames, 1, 2, 2), ipf.clone()


@pytest.mark.parametrize(("sampling", "predicted"), [("reverse", [1, 2, 3, 4]), ("off", [2, 3, 4]), ("plain", [2, 3, 4])])
def test_predicted_frames_and_context_lengths(sampling, predicted):
    temps, ipf = sequence()
    model = Shift()
    out = predict_sequence(model, temps, ipf, seq_length=2, sampling=sampling, p_context=1.0, p_forecast=1.0)
    assert [j for j, _, _ in out] == predicted
    assert model.lengths == [min(j, 2) for j in predicted]
    # every fed-back frame was the true one (p = 1): frame j is predicted as true frame j - 1 + 10
    assert all(torch.equal(pred, ipf[:, j - 1] + 10) for j, pred, _ in out)


def test_own_predictions_are_fed_back_when_the_true_frame_is_never_chosen():
    temps, ipf = sequence()
    out = predict_sequence(Shift(), temps, ipf, seq_length=2, sampling="off", p_context=1.0, p_forecast=0.0)
    # frame 2 from true frame 1 (+10), frame 3 from predicted frame 2 (+20), frame 4 (+30)
    assert [float(pred[0, 0, 0, 0]) for _, pred, _ in out] == [11.0, 21.0, 31.0]
    reverse = predict_sequence(Shift(), temps, ipf, seq_length=2, sampling="reverse", p_context=0.0, p_forecast=0.0)
    assert [float(pred[0, 0, 0, 0]) for _, pred, _ in reverse] == [10.0, 20.0, 30.0, 40.0]


def test_sequence_frames_join_context_and_target():
    batch = {"context": torch.rand(2, 3, 10, 4, 5), "future_temp": torch.rand(2, 1, 4, 5), "target": torch.rand(2, 9, 4, 5)}
    temps, ipf = sequence_frames(batch)
    assert temps.shape == (2, 4, 1, 4, 5) and ipf.shape == (2, 4, 9, 4, 5)
    assert torch.equal(ipf[:, 3], batch["target"]) and torch.equal(temps[:, :3], batch["context"][:, :, :1])
    with pytest.raises(ValueError, match="more than seq_length=4 frames, got 4"):
        predict_sequence(Shift(), temps, ipf, seq_length=4, sampling="off", p_context=1.0, p_forecast=0.0)


def test_training_with_the_curriculum_records_it_and_logs_the_schedule(tmp_path):
    cache = tiny_cache(tmp_path)
    settings = {**TINY, "cache": str(cache), "runs_root": str(tmp_path / "runs"), "epochs": 2,
                "train_horizon": 2, "sampling": "reverse", "sampling_ramp": 0.5}
    settings["split_ratio"] = [int(v) for v in settings["split_ratio"].split(",")]
    settings["encoder_channels"] = [int(v) for v in settings["encoder_channels"].split(",")]
    run = fit("fields", settings)
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["seq_length"] == 2 and config["data"]["train_sequence_frames"] == 4
    assert config["data"]["n_samples"] == {"train": 32, "val": 16, "test": 16}  # 4 train windows of 4 frames
    history = json.loads((run / "history.json").read_text())
    # 4 steps per epoch, 8 in all, ramp 0.5: t = 0, 1/4, 1/2, 3/4 in epoch 0, then 1 (the end points)
    assert history[0]["train_p_true_context"] == pytest.approx(0.5 + 0.5 * 0.375)
    assert history[0]["train_p_true_forecast"] == pytest.approx(0.5 * 0.625)
    assert (history[1]["train_p_true_context"], history[1]["train_p_true_forecast"]) == (1.0, 0.0)
    assert json.loads((run / "test_results.json").read_text())["metrics"]["mse"] > 0
