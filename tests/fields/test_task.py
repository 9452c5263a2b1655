"""The fields task's parts: config (LASERNet defaults, errors), masked and weighted loss, decoupling term,
shuffled training batches, and what load_data records."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from field_training import TINY, tiny_cache
from single_thread import one_thread  # noqa: F401  (autouse fixture)

from simrnn.engine import task_config
from simrnn.errors import UserInputError
from simrnn.fields.dataset import FieldSequenceDataset
from simrnn.fields.hardware import conv_layout
from simrnn.fields.metrics import band_mask
from simrnn.fields.task import FieldsTask, loss_weights, masked_mse
from simrnn.files import sha256_file


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tiny_cache(tmp_path_factory.mktemp("fields_task"))


def config(cache, **overrides):
    return task_config("fields", {**TINY, "cache": str(cache), **overrides})


def test_defaults_are_lasernets_except_output_loss_and_band(tmp_path):
    cfg = task_config("fields", {"cache": str(tmp_path / "c.h5")})
    assert (cfg.batch_size, cfg.lr, cfg.seq_length, cfg.plane, cfg.rnn_layers) == (16, 1e-3, 3, "xz", 4)
    assert (cfg.split_ratio, cfg.preload, cfg.skip, cfg.patience, cfg.model) == ((12, 6, 6), True, False, 15, "cnn-lstm")
    assert (cfg.output, cfg.loss, cfg.change_weight, cfg.base_weight) == ("gated", "change", 10.0, 0.1)
    assert (cfg.t_solidus, cfg.t_liquidus) == (None, None)  # derived from the data


@pytest.mark.parametrize(("values", "message"), [
    ({}, "no data file; give cache (an HDF5 field cache)."),
    ({"cache": "c.h5", "split_ratio": "12,6"}, "'split_ratio' must be three positive integers like 12,6,6, got [12, 6]"),
    ({"cache": "c.h5", "t_solidus": 1600, "t_liquidus": 1500}, "'t_solidus' (1600.0 K) must be below 't_liquidus'"),
    ({"cache": "c.h5", "t_solidus": 1600}, "give both 't_solidus' and 't_liquidus' (K), or neither"),
    ({"cache": "c.h5", "base_weight": 2}, "'base_weight' must be in [0, 1], got 2.0"),
    ({"cache": "c.h5", "change_weight": 0.5}, "'change_weight' must be at least 1, got 0.5"),
    ({"cache": "c.h5", "loss": "l1"}, "'loss' is 'l1'; expected one of 'change', 'mse', 'weighted'"),
    ({"cache": "c.h5", "output": "residual"}, "'output' is 'residual'; expected one of 'gated', 'logit', 'direct'"),
    ({"cache": "c.h5", "model": "unet"}, "'model' is 'unet'; expected one of cnn-lstm, predrnn"),
    ({"cache": "c.h5", "rnn_layers": 0}, "'rnn_layers' must be at least 1, got 0"),
])
def test_bad_settings_are_one_sentence(values, message):
    with pytest.raises(UserInputError) as err:
        task_config("fields", values, source="cli")
    assert message in str(err.value) and str(err.value).startswith("cli: ")


def test_masked_mse_ignores_cells_outside_the_mask():
    g = torch.Generator().manual_seed(0)
    pred, target = torch.rand(2, 9, 4, 6, generator=g), torch.rand(2, 9, 4, 6, generator=g)
    mask = torch.rand(2, 4, 6, generator=g) > 0.5
    loss = masked_mse(pred, target, mask.float())
    expected = (pred - target).square().permute(0, 2, 3, 1)[mask].mean()
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)
    assert float(masked_mse(torch.where(mask[:, None], pred, 5.0), target, mask.float())) == pytest.approx(float(loss))
    assert float(masked_mse(pred, target, torch.ones(2, 4, 6))) == pytest.approx(float((pred - target).square().mean()))


def test_weighted_loss_gives_the_band_weight_one_and_the_rest_base_weight():
    norm = {"t_ambient_K": 300.0, "t_max_train_K": 2300.0}
    future = torch.tensor([0.5, 0.6, 0.7, 0.6]).reshape(1, 1, 1, 4)  # 1300, 1500, 1700, 1500 K
    batch = {"future_temp": future, "mask": torch.tensor([[[True, True, True, False]]])}
    loss = {"kind": "weighted", "base_weight": 0.25, "change_weight": 10.0}
    assert loss_weights(batch, loss, norm, (1400.0, 1600.0)).tolist() == [[[0.25, 1.0, 0.25, 0.0]]]
    assert loss_weights(batch, dict(loss, kind="mse"), norm, (1400.0, 1600.0)).tolist() == [[[1.0, 1.0, 1.0, 0.0]]]


def test_change_loss_weighs_cells_that_melt_solidify_or_recolour():
    """Cells (in order): solid unchanged, melts, solidifies, recolours, liquid unchanged, outside the mask."""
    red, blue = [1.0, 0, 0] * 3, [0, 0, 1.0] * 3
    zero = [0.0] * 9
    last = torch.tensor([red, red, zero, red, zero, red]).T.reshape(1, 1, 9, 1, 6)
    target = torch.tensor([red, zero, blue, blue, zero, zero]).T.reshape(1, 9, 1, 6)
    context = torch.cat([torch.zeros(1, 1, 1, 1, 6), last], dim=2)
    mask = torch.tensor([[[True] * 5 + [False]]])
    batch = {"context": context, "target": target, "mask": mask, "future_temp": torch.zeros(1, 1, 1, 6)}
    loss = {"kind": "change", "base_weight": 0.1, "change_weight": 4.0}
    assert loss_weights(batch, loss, {}, (0.0, 1.0)).tolist() == [[[1.0, 4.0, 4.0, 4.0, 1.0, 0.0]]]


def test_load_data_records_the_cache_split_and_kernels(cache):
    task = FieldsTask()
    data = task.load_data(config(cache))
    train = FieldSequenceDataset(cache, split="train", split_ratio=(2, 1, 1), seq_length=2)
    record = data.record
    assert record["file"] == str(cache.resolve()) and record["sha256"] == sha256_file(cache)
    assert record["steps"] == {"train": list(range(8)), "val": [8, 9, 10, 11], "test": [12, 13, 14, 15]}
    assert record["n_samples"] == {"train": 40, "val": 16, "test": 16} and record["skipped_steps"] == [0]
    expected_layout = "channels_last" if conv_layout("cpu") == torch.channels_last else "contiguous"
    assert record["kernels"]["conv_layout"] == expected_layout and record["kernels"]["device_type"] == "cpu"
    # the model trains in the layout config.json records (chosen once, when the module is built)
    data.record["kernels"]["conv_layout"] = "contiguous"
    assert task.build_module(config(cache), data).model.layout == torch.contiguous_format
    assert data.data_meta["normalisation"] == train.normalisation
    assert data.data_meta["image_size"] == [8, 24] and data.data_meta["solidification_band_K"] == [1600.0, 1800.0]
    assert data.data_meta["solidification_band_source"] == "given"
    assert data.model_args == {"in_channels": 10, "out_channels": 9, "hidden_channels": 4, "n_layers": 1,
                               "skip": False, "encoder_channels": [4, 8, 8], "output": "gated"}
    val = data.datamodule.datasets["val"]
    assert val.normalisation == train.normalisation and len(val) == 16


def test_band_comes_from_the_cells_that_solidify_in_the_train_steps(cache):
    """The synthetic alloy melts at 1700 K: cells solidify just below it, so the derived band lies
    under 1700 K and holds the 5-95 % range of the solidifying cells' temperatures."""
    from simrnn.fields.band import derive_band, solidifying_temperatures
    from simrnn.fields.cache import open_cache

    data = FieldsTask().load_data(config(cache, t_solidus=None, t_liquidus=None))
    low, high = data.data_meta["solidification_band_K"]
    assert data.data_meta["solidification_band_source"].startswith("derived")
    temps = solidifying_temperatures(open_cache(cache), range(1, 8))
    assert temps.size > 10 and 1500 < low < high < 1700
    assert low == pytest.approx(np.quantile(temps, 0.05), abs=0.06)
    assert high == pytest.approx(np.quantile(temps, 0.95), abs=0.06)
    assert derive_band(open_cache(cache), [1]) is None  # a single step has no consecutive pair


def test_training_batches_are_shuffled_and_validation_keeps_its_order(cache):
    datamodule = FieldsTask().load_data(config(cache)).datamodule
    torch.manual_seed(0)
    first = torch.cat([b["slice_index"] + 100 * b["target_step"] for b in datamodule.train_dataloader()])
    second = torch.cat([b["slice_index"] + 100 * b["target_step"] for b in datamodule.train_dataloader()])
    in_order = torch.tensor([item["slice_index"] + 100 * item["target_step"] for item in datamodule.datasets["train"]])
    assert sorted(first.tolist()) == sorted(in_order.tolist())
    assert not torch.equal(first, in_order) and not torch.equal(first, second)
    val = torch.cat([b["slice_index"] + 100 * b["target_step"] for b in datamodule.val_dataloader()])
    assert val.tolist() == [item["slice_index"] + 100 * item["target_step"] for item in datamodule.datasets["val"]]


def test_predrnn_adds_the_weighted_decoupling_loss(cache):
    task = FieldsTask()
    data = task.load_data(config(cache, model="predrnn"))
    batch = next(iter(data.datamodule.val_dataloader()))
    losses = {}
    for beta in (0.0, 0.5):
        torch.manual_seed(0)
        module = task.build_module(config(cache, model="predrnn", decouple_beta=beta), data)
        module.log = lambda *args, **kwargs: None
        losses[beta] = float(module.training_step(batch, 0).detach())
    _, aux = module.model.forward_with_aux(batch["context"], batch["future_temp"])
    assert float(aux["decouple"].detach()) > 0
    assert losses[0.5] - losses[0.0] == pytest.approx(0.5 * float(aux["decouple"].detach()), rel=1e-4)


def test_cosine_schedule_anneals_over_the_epochs(cache):
    task = FieldsTask()
    data = task.load_data(config(cache))
    plain = task.build_module(config(cache), data).configure_optimizers()
    assert isinstance(plain, torch.optim.Adam) and plain.param_groups[0]["lr"] == 0.01
    annealed = task.build_module(config(cache, cosine_schedule=True, epochs=4), data).configure_optimizers()
    schedule = annealed["lr_scheduler"]["scheduler"]
    assert isinstance(schedule, torch.optim.lr_scheduler.CosineAnnealingLR) and schedule.T_max == 4


@pytest.mark.parametrize(("fast", "chosen"), [(True, "bf16-mixed"), (False, "32-true")])
def test_auto_precision_is_bf16_where_bf16_is_measured_faster_and_recorded(cache, monkeypatch, fast, chosen):
    from simrnn.fields import hardware

    monkeypatch.setattr(hardware, "fast_bf16", lambda device=None: fast)
    assert config(cache).precision == "32-true"  # the default (bf16 moved the test MSE more than a seed)
    cfg = config(cache, precision="auto")
    assert cfg.precision == chosen and cfg.precision_choice.startswith("auto: bf16 autocast")
    record = FieldsTask().load_data(cfg).record["precision"]
    assert record == {"setting": chosen, "chosen_by": cfg.precision_choice}
    given = config(cache, precision="32-true")
    assert FieldsTask().load_data(given).record["precision"] == {"setting": "32-true", "chosen_by": "given"}


def test_lasernets_loss_flags_keep_their_meaning_or_name_the_simrnn_equivalent(tmp_path):
    from typer.testing import CliRunner

    from simrnn.cli import app

    cfg = task_config("fields", {"cache": "c.h5", "use_weighted_loss": True, "loss_type": "weighted",
                                 "use_fast_loading": True, "base_weight": 0.2})
    assert (cfg.loss, cfg.base_weight) == ("weighted", 0.2)
    refused = {
        "weight_scale": (0.1, "'weight_scale' (LASERNet's Gaussian band width) has no simrnn equivalent"),
        "loss_type": ("combined", "'loss_type' 'combined' (LASERNet's) has no simrnn equivalent; use loss weighted"),
        "gradient_weight": (0.1, "'gradient_weight' belongs to LASERNet's sharpness loss, which simrnn does not have"),
        "enable_solidification_sharp": (True, "'enable_solidification_sharp' belongs to LASERNet's sharpness loss"),
    }
    for key, (value, message) in refused.items():
        with pytest.raises(UserInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
            task_config("fields", {"cache": "c.h5", "use_weighted_loss": True, key: value})
    with pytest.raises(UserInputError, match="means loss weighted, but loss is 'mse'"):
        task_config("fields", {"cache": "c.h5", "use_weighted_loss": True, "loss": "mse"})
    # the command line: LASERNet's spellings are options (the missing cache is the only complaint)
    missing = tmp_path / "none.h5"
    result = CliRunner().invoke(app, ["fields", "train", str(missing), "--T-solidus", "1560", "--T-liquidus", "1620",
                                      "--use-weighted-loss", "--use-fast-loading"])
    assert result.exit_code == 2 and f"{missing}: cache file not found" in result.output
    result = CliRunner().invoke(app, ["fields", "train", str(missing), "--use-weighted-loss", "--weight-scale", "0.1"])
    assert result.exit_code == 2 and "--weight-scale (LASERNet's Gaussian band width) has no simrnn equivalent" \
        in result.output and "Traceback" not in result.output


def test_a_band_without_test_cells_warns_and_leaves_band_mse_out(cache):
    cfg = config(cache, t_solidus=300000.0, t_liquidus=300100.0)
    task = FieldsTask()
    data = task.load_data(cfg)
    torch.manual_seed(0)
    model = task.build_module(cfg, data).model.eval()
    with pytest.warns(UserWarning, match=r"no test cell lies in the solidification band 300000\.\.300100 K"):
        evaluation = task.evaluate(model, data, cfg)
    assert "band_mse" not in evaluation.metrics and evaluation.details["band_cells"] == 0
    assert "solidify/mse" in evaluation.metrics


def test_no_solidifying_cell_in_the_train_steps_leaves_the_band_empty_unless_the_loss_needs_it(cache, monkeypatch):
    from simrnn.fields import band

    monkeypatch.setattr(band, "derive_band", lambda cache, steps: None)
    data = FieldsTask().load_data(config(cache, t_solidus=None, t_liquidus=None))
    assert data.data_meta["solidification_band_K"] == [None, None]
    assert data.data_meta["solidification_band_source"].startswith("none: no cell solidifies")
    with pytest.raises(UserInputError, match="the solidification band of loss weighted cannot be derived"):
        FieldsTask().load_data(config(cache, t_solidus=None, t_liquidus=None, loss="weighted"))
    assert not band_mask(torch.rand(2, 1, 3, 4), {"t_ambient_K": 300.0, "t_max_train_K": 2300.0}, None, None).any()
