"""sklrank.callbacks.PrintLog: skorch's per-epoch table with its columns kept in place."""

import re

import numpy as np
import pytest
import torch
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback

from sklrank.callbacks import GradientSpectrum, PrintLog, RankHistory


def _data():
    X = np.random.default_rng(0).standard_normal((40, 8)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64)


def _net(callbacks, **kwargs):
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    return NeuralNetClassifier(module, criterion=torch.nn.CrossEntropyLoss, max_epochs=4,
                               lr=0.1, train_split=None, callbacks=callbacks, **kwargs)


def _table(lines):
    """{column: [cell, ...]}, cut at the header's column ends (cells are right-aligned)."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in "\n".join(lines).splitlines()]
    header, rule, rows = lines[0], lines[1], lines[2:]
    spans, start = [], 0
    for dashes in re.finditer(r"-+", rule):
        spans.append((start, dashes.end()))
        start = dashes.end()
    return {header[a:b].strip(): [row[a:b].strip() for row in rows] for a, b in spans}


def test_plain_skorch_net_keeps_columns_of_a_rank_recorded_every_other_epoch():
    # skorch's own PrintLog put the rank under train_loss on epochs 2 and 4
    X, y = _data()
    lines = []
    net = _net([RankHistory(every=2)], callbacks__print_log=PrintLog(sink=lines.append))
    net.fit(X, y)
    table = _table(lines)
    assert list(table) == ["epoch", "filter_stable_rank", "train_loss", "dur"]
    ranks = net.history[:, "filter_stable_rank"]
    assert table["filter_stable_rank"] == ["", f"{ranks[0]:.4f}", "", f"{ranks[1]:.4f}"]
    assert table["train_loss"] == [f"{v:.4f}" for v in net.history[:, "train_loss"]]


def test_skorchs_own_print_log_misaligns_the_same_table():
    # the failure PrintLog exists for, so that the test above checks something skorch gets
    # wrong (if skorch fixes it, this test says so)
    X, y = _data()
    lines = []
    net = _net([RankHistory(every=2)])
    net.set_params(callbacks__print_log__sink=lines.append)
    net.fit(X, y)
    table = _table(lines)
    assert "filter_stable_rank" not in table
    assert table["train_loss"][1] != f"{net.history[1, 'train_loss']:.4f}"


def test_gradient_spectrum_every_other_epoch_on_a_plain_net():
    from sklrank import TwoLayerNetRegressor
    from sklrank.datasets import make_spiked

    X, y = make_spiked(n_samples=40, n_features=6, random_state=0)[:2]
    lines = []
    est = TwoLayerNetRegressor(max_epochs=4, lr=0.1, random_state=0,
                               callbacks=[GradientSpectrum(every=2)],
                               callbacks__print_log__sink=lines.append).fit(X, y)
    table = _table(lines)
    assert table["train_loss"] == [f"{v:.4f}" for v in est.history[:, "train_loss"]]
    assert table["grad_stable_rank"][0] == "" and table["grad_stable_rank"][1] != ""


def test_a_key_recorded_later_gets_its_column_and_the_header_again():
    class Late(Callback):
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) >= 2:
                net.history.record("late_metric", 0.5)

    X, y = _data()
    lines = []
    _net([Late()], callbacks__print_log=PrintLog(sink=lines.append)).fit(X, y)
    text = "\n".join(lines).splitlines()
    assert sum("late_metric" in line for line in text) == 1
    assert _table(text[3:])["late_metric"] == ["0.5000"] * 3


def test_values_that_are_not_scalars_get_no_column():
    # an array in a cell (e.g. RankHistory's per-bank ranks of a RankCNNClassifier) is
    # not a number to print; skorch's table printed its repr
    class Arrays(Callback):
        def on_epoch_end(self, net, **kwargs):
            net.history.record("per_unit", np.arange(3.0))
            net.history.record("scalar_array", np.float64(2.5))

    X, y = _data()
    lines = []
    _net([Arrays()], callbacks__print_log=PrintLog(sink=lines.append)).fit(X, y)
    table = _table(lines)
    assert "per_unit" not in table and table["scalar_array"] == ["2.5000"] * 4


@pytest.mark.parametrize("keys_ignored", ["train_loss", ["train_loss"]])
def test_keys_ignored_leaves_the_column_out(keys_ignored):
    X, y = _data()
    lines = []
    printer = PrintLog(keys_ignored=keys_ignored, sink=lines.append)
    _net([RankHistory(every=2)], callbacks__print_log=printer).fit(X, y)
    assert list(_table(lines)) == ["epoch", "filter_stable_rank", "dur"]


def test_is_a_skorch_callback_with_only_public_parameters():
    from sklearn.base import clone

    printer = PrintLog(floatfmt=".2f")
    assert set(printer.get_params()) == {"keys_ignored", "sink", "tablefmt", "floatfmt",
                                         "stralign"}
    assert clone(printer).floatfmt == ".2f"
