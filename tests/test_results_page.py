"""docs/results.md against the files it cites: the tables that summarise a CSV of
``docs/figures/`` show that CSV's numbers, to the digits shown.

Checked: every ``sklrank sweep`` table of section A (the command's own summary, compared as
strings with :func:`sklrank._cli.sweep.summary_table`), the sample-size tables of A.2 and A.3,
the MNIST grid search of section C, and the tables of section B: activations (B.1),
regularisers (B.2: mean and min-max over seeds of the ratio to the unregularised run, bold
where the claim holds in every seed; after training, over the seeds whose runs trained, the
others named in the cell), training (B.3), real data (B.4) and the earlier study's
nu sweep (B.5); means over seeds, a cell matching when the CSV's value rounds to it. Tables
of numbers that no CSV of ``docs/figures`` holds (B.5's earlier regulariser comparison, D,
E) are not checked here. Prose numbers are
not parsed; a table is the place a reader copies from. The README's speed ranges are checked
against the run committed in benchmarks/RESULTS.md, which it links to.
"""

import re

import numpy as np
import pandas as pd
import pytest
from conftest import REPO_ROOT

from sklrank._cli.sweep import summary_table

RESULTS = REPO_ROOT / "docs" / "results.md"
FIGURES = REPO_ROOT / "docs" / "figures"

SWEEP_HEADER = ["noise_std", "data sr", "patch sr", "filter sr", "train acc", "test acc"]


def _tables():
    """(heading, text before the table since the previous table, header, rows) of every
    Markdown table of results.md; cells stripped, ``\\|`` kept as ``|``."""
    lines = RESULTS.read_text().splitlines()
    heading, before, i = "", [], 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading, before = line.lstrip("# ").strip(), []
        separator = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if line.startswith("|") and "-" in separator and set(separator) <= set("|-: "):
            def cells(text):
                return [c.strip().replace("\\|", "|")
                        for c in re.split(r"(?<!\\)\|", text.strip().strip("|"))]
            header, rows, i = cells(line), [], i + 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(cells(lines[i]))
                i += 1
            yield heading, "\n".join(before), header, rows
            before = []
            continue
        before.append(line)
        i += 1


TABLES = list(_tables())


def _shown(value, cell):
    """Whether ``value`` rounds to ``cell`` as printed (``0.98``, ``2e-8``, ``14.7``)."""
    cell = cell.strip()
    if "e" in cell:
        mantissa, exponent = cell.split("e")
        step = 10.0 ** int(exponent) * (10.0 ** -len(mantissa.partition(".")[2]))
    else:
        step = 10.0 ** -len(cell.partition(".")[2])
    return abs(value - float(cell)) <= 0.5 * step * (1 + 1e-9)


# -- section A: sweep tables -------------------------------------------------------------------

def _sweep_tables():
    for heading, before, header, rows in TABLES:
        if header == SWEEP_HEADER:
            name = re.findall(r"--name (\w+)", before)
            yield pytest.param(name[-1] if name else None, rows, id=name[-1] if name else heading)


@pytest.mark.parametrize("name, rows", list(_sweep_tables()))
def test_sweep_table_is_its_csv(name, rows):
    assert name is not None, "a sweep table without its command (--name NAME) above it"
    summary = summary_table(pd.read_csv(FIGURES / f"{name}.csv"))
    assert [float(row[0]) for row in rows] == summary.index.tolist(), name
    for row in rows:
        expected = summary.loc[float(row[0]), SWEEP_HEADER[1:]].tolist()
        assert row[1:] == expected, f"{name}, noise_std {row[0]}"


def _sample_size_tables():
    for _, before, header, rows in TABLES:
        if header[:3] == ["machine", "n", "filter sr at noise 0 / 0.3 / 1"]:
            name = re.findall(r"--name (\w+)", before)[0]
            yield pytest.param(name, rows, id=name)


@pytest.mark.parametrize("name, rows", list(_sample_size_tables()))
def test_sample_size_table_is_its_csv(name, rows):
    from sklrank._base import did_not_train

    df = pd.read_csv(FIGURES / f"{name}.csv")
    # as sklrank sweep's table: the learned numbers over the fits that trained
    learned = ["filter_stable_rank", "train_accuracy", "test_accuracy"]
    df[learned] = df[learned].mask(did_not_train(df), axis=0)
    for machine, n, filters, growth, data, test_acc in rows:
        if "(CPU)" not in machine:
            continue  # rows of another run, quoted from its issue
        at_n = df[df["n_train"] == int(n)].groupby("noise_std")
        mean, sd = at_n["filter_stable_rank"].mean(), at_n["filter_stable_rank"].std()
        for cell, m, s in zip(filters.split(" / "), mean, sd):
            shown_mean, _, shown_sd = cell.partition(" ± ")
            assert _shown(m, shown_mean), (name, n, cell, m)
            assert not shown_sd or _shown(s, shown_sd), (name, n, cell, s)
        assert _shown(mean.iloc[-1] / mean.iloc[0], growth.rstrip("x")), (name, n, growth)
        data_mean = at_n["data_stable_rank"].mean()
        first, last = data.split(" -> ")
        assert _shown(data_mean.iloc[0], first) and _shown(data_mean.iloc[-1], last), (name, n)
        for cell, m in zip(test_acc.split(" / "), at_n["test_accuracy"].mean()):
            assert _shown(m, cell), (name, n, test_acc)


def test_mnist_grid_search_table_is_its_csv():
    (rows,) = [rows for _, _, header, rows in TABLES
               if header == ["noise_std", "accuracy", "data stable rank", "filter stable rank"]]
    df = pd.read_csv(FIGURES / "mnist_gridsearch.csv").set_index("noise_std")
    assert [float(row[0]) for row in rows] == df.index.tolist()
    for noise, *cells in rows:
        values = df.loc[float(noise), ["accuracy", "data_rank", "filter_rank"]]
        for cell, value in zip(cells, values):
            assert _shown(value, cell), (noise, cell, value)


# -- section B: the gradient studies -----------------------------------------------------------

def _check_means(table, frame, keys, columns):
    """Every cell of ``table`` (rows of strings, the key cells first) against the mean over
    seeds of ``frame``'s column named in ``columns`` (None: a key or a column not checked)."""
    means = frame.groupby(keys).mean(numeric_only=True)
    sds = frame.groupby(keys).std(numeric_only=True)
    wrong = []
    for row in table:
        key = tuple(row[:len(keys)])
        for cell, column in zip(row[len(keys):], columns):
            if column is None:
                continue
            shown_mean, _, shown_sd = cell.partition(" ± ")
            if not _shown(means.loc[key, column], shown_mean) or (
                    shown_sd and not _shown(sds.loc[key, column], shown_sd)):
                wrong.append(f"{key} {column}: page {cell}, CSV mean "
                             f"{means.loc[key, column]:.4g} (sd {sds.loc[key, column]:.2g})")
    assert not wrong, "\n".join(wrong)


def test_training_table_is_its_csv():
    (rows,) = [rows for heading, _, header, rows in TABLES
               if heading.startswith("B.3") and header[:4] == ["nu", "activation", "epoch",
                                                               "loss"]]
    nu = {"1/8": "0.125", "3/8": "0.375"}
    table = [[nu[r[0]], r[1], r[2], *r[3:]] for r in rows]
    df = pd.read_csv(FIGURES / "gradients_training.csv")
    df["nu"], df["epoch"] = df["nu"].astype(str), df["epoch"].astype(str)
    _check_means(table, df, ["nu", "activation", "epoch"],
                 ["loss", "top2_share", "stable_rank", "s1_over_s2", "cos_residue_1",
                  "cos_spike_1", "spike_in_top2"])


def test_real_data_table_is_its_csv():
    (rows,) = [rows for heading, _, header, rows in TABLES
               if heading.startswith("B.4") and header[:4] == ["data", "activation", "epoch",
                                                               "loss"]]
    names = {"MNIST": "mnist", "CIFAR-10": "cifar10"}
    table = [[names[r[0]], r[1], r[2], *r[3:]] for r in rows]
    df = pd.read_csv(FIGURES / "gradients_real_data.csv")
    df = df[df["sv_index"] == 1].copy()  # one row per fit and epoch
    df["epoch"] = df["epoch"].astype(str)
    df["sv2_over_sv3"] = df["sv2"] / df["sv3"]
    _check_means(table, df, ["dataset", "activation", "epoch"],
                 ["loss", "top2_share", "sv1_over_sv2", "sv2_over_sv3", "max_cos_residue",
                  "max_cos_spike", "spike_in_top2", "s1_over_s2"])


def _table_after(heading, *first_columns):
    """The rows of the one table under a heading starting ``heading`` whose header starts
    with ``first_columns``."""
    (rows,) = [rows for head, _, header, rows in TABLES
               if head.startswith(heading) and tuple(header[:len(first_columns)]) == first_columns]
    return rows


def _one_row_per_fit(name):
    df = pd.read_csv(FIGURES / name)
    return df[df["sv_index"] == 1].copy()  # one row per decomposition


def test_activation_table_is_its_csv():
    df = _one_row_per_fit("gradients_activations.csv")
    df["s1_over_e"], df["s2_over_e"] = df["s1_norm"] / df["e_norm"], df["s2_norm"] / df["e_norm"]
    df["sv1_over_sv3"] = df["sv1"] / df["sv3"]
    _check_means(_table_after("B.1", "activation"), df, ["activation"],
                 ["s1_norm", "s2_norm", "s1_over_e", "s2_over_e", "s1_over_s2",
                  "sv1_over_sv2", "sv1_over_sv3", "top2_share"])


def test_nu_sweep_tables_are_its_csv():
    df = _one_row_per_fit("gradients_nu_sweep.csv")
    df["nu"] = df["nu"].map("{:.2f}".format)
    _check_means(_table_after("Regimes", "nu", "activation"), df, ["nu", "activation"],
                 ["cos_residue_1", "sv1_over_sv2", "top2_share", "max_cos_spike",
                  "spike_in_top2", "s1_norm", "s2_norm", "e_ratio"])
    activations = ["relu", "huberized", "tanh", "sigmoid"]
    assert _table_after("Activation at alpha = 0", "nu", *activations)
    long = [[nu, activation, cell] for nu, *cells in _table_after("Activation at alpha = 0", "nu")
            for activation, cell in zip(activations, cells)]
    _check_means(long, df, ["nu", "activation"], ["s1_over_s2"])


def _fraction(text):
    numerator, _, denominator = text.partition("/")
    return float(numerator) / float(denominator or 1)


def _regulariser_tables():
    for heading, before, header, rows in TABLES:
        if heading.startswith("B.2") and header[0] == "regulariser (claim)":
            alpha, nu = re.findall(r"alpha = ([\d/.]+), nu = ([\d/.]+)", before)[-1]
            yield pytest.param(_fraction(alpha), _fraction(nu), rows, id=f"alpha={alpha}")


@pytest.mark.parametrize("alpha, nu, rows", list(_regulariser_tables()))
def test_regulariser_table_is_its_csv(alpha, nu, rows):
    from sklrank.gradients import regulariser_effects

    effects = regulariser_effects(pd.read_csv(FIGURES / "gradients_regularisers.csv"))
    effects = effects[np.isclose(effects["alpha"], alpha) & np.isclose(effects["nu"], nu)
                      & (effects["claimed"] != "")]
    names = {"weight decay": "weight_decay", "input noise": "input_noise",
             "Jacobian penalty": "jacobian_penalty"}
    wrong = []
    for regulariser, scaling, activation, *by_when in rows:
        name = names[regulariser.partition(" (")[0]]
        for when, cells in zip(["init", "trained"], by_when):
            for cell in cells.split("; "):
                strength, shown = cell.split(": ")
                # "mean (min–max)", or "mean (seed 0 only)", then ", seed 1 did not train"
                # where a seed is left out (its run, or its reference, did not train)
                match = re.fullmatch(r"(\*\*)?([\d.]+)(?:\*\*)? \((?:([\d.]+)–([\d.]+)|seed "
                                     r"(\d+) only)(?:, seeds? ([\d ]+) did not train)?\)", shown)
                assert match, f"unparsed cell {cell!r}"
                bold, mean, low, high, alone, left_out = match.groups()
                ratios = effects[(effects["regulariser"] == name)
                                 & (effects["scaling"] == scaling)
                                 & (effects["activation"] == activation)
                                 & (effects["when"] == when)
                                 & np.isclose(effects["strength"], float(strength))]
                assert len(ratios) == 2, (name, scaling, activation, when, strength)
                untrained = ratios["untrained"].astype(bool)
                assert sorted(ratios.loc[untrained, "seed"]) == (
                    [int(v) for v in left_out.split()] if left_out else []), cell
                ratios = ratios[~untrained]
                if alone is not None:
                    assert ratios["seed"].tolist() == [int(alone)], cell
                    low = high = mean
                values = [ratios["ratio"].mean(), ratios["ratio"].min(), ratios["ratio"].max()]
                if not all(_shown(v, c) for v, c in zip(values, [mean, low, high])) or (
                        bool(bold) != bool(ratios["holds"].all())):
                    wrong.append(f"{name} {scaling} {activation} {when} {strength}: page "
                                 f"{shown}, CSV {values[0]:.4g} ({values[1]:.4g}–"
                                 f"{values[2]:.4g}), holds in every seed: "
                                 f"{bool(ratios['holds'].all())}")
    assert not wrong, "\n".join(wrong)


def test_every_summary_table_is_checked():
    # a table of section A or B that the tests above stop recognising (a renamed column)
    # would silently go unchecked
    assert len(list(_sweep_tables())) == 11
    assert len(list(_sample_size_tables())) == 2
    assert len(list(_regulariser_tables())) == 2
    assert len(_table_after("B.1", "activation")) == 4
    assert len(_table_after("Regimes", "nu", "activation")) == 17
    assert len(_table_after("Activation at alpha = 0", "nu", "relu")) == 6


def test_tables_are_parsed_whole():
    # a prose line starting with "||S1||" before a blank line is not a table
    headers = [header for _, _, header, _ in TABLES]
    assert all(header[0] for header in headers), headers


# -- the README's speed paragraph against benchmarks/RESULTS.md -------------------------------

def _results_row(first_cell):
    """The cells of the benchmarks/RESULTS.md table row whose first cell starts so."""
    for line in (REPO_ROOT / "benchmarks" / "RESULTS.md").read_text().splitlines():
        cells = [c.replace("*", "").strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0].startswith(first_cell):
            return cells
    raise AssertionError(f"no row {first_cell!r} in benchmarks/RESULTS.md")


def _readme_range(pattern):
    """The ``low-high`` range the README quotes where ``pattern`` (a regex with two groups)
    matches its speed paragraph."""
    text = " ".join((REPO_ROOT / "README.md").read_text().split())
    match = re.search(pattern, text)
    assert match, f"README: {pattern!r} not found"
    return float(match.group(1)), float(match.group(2))


def _within(value, low_high, digits):
    low, high = low_high
    return round(low, digits) <= round(value, digits) <= round(high, digits)


def test_readme_speed_ranges_cover_the_committed_benchmarks():
    # The README quotes ranges over several runs; the run committed in RESULTS.md, which it
    # links to, is one of them.
    mnist = _results_row("MNIST images 60000")
    seconds, ratio = float(mnist[2].split()[0]), float(mnist[5].split("(")[1].rstrip("x)"))
    assert _within(seconds, _readme_range(r"one float64 pass \((\d\.\d+)-(\d\.\d+) s"), 2)
    assert _within(ratio, _readme_range(r"(\d+)-(\d+)x faster than `numpy.linalg.svd`"), 0)
    noise = _results_row("Gaussian noise 60000")
    gram, svd = float(noise[4].rstrip("x")), float(noise[5].split("(")[1].rstrip("x)"))
    assert _within(gram, _readme_range(r"\((\d\.\d)-(\d\.\d)x the time of one"), 1)
    assert _within(svd, _readme_range(r"(\d)-(\d)x faster than the SVD"), 0)
    cost = {}
    for case in ("synthetic (cpu)", "mnist-sized (cpu)"):
        row = _results_row(case)
        cost[case] = float(row[7].split()[0]) / float(row[5].split()[0])
    assert _within(cost["mnist-sized (cpu)"],
                   _readme_range(r"costs (\d\.\d+)-(\d\.\d+)x at MNIST size"), 2)
    assert _within(cost["synthetic (cpu)"],
                   _readme_range(r"and (\d\.\d+)-(\d\.\d+)x on the tiny synthetic problem"), 2)
