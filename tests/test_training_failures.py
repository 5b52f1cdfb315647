"""A fit that did not train is never reported as a result; fitted attributes never go stale.

Bad inputs and failed fits of the skorch estimators, and the answer each gets:

=============================================================  ==================================
input                                                          answer
=============================================================  ==================================
raw 0..255 MNIST pixels, default lr (the network dies)         TrainingFailedError naming the
                                                               input scale and "pixels / 255"
pixels in [0, 1] with lr=1e6 (the network dies)                TrainingFailedError naming lr
a loss that never moves at a large step (a spike of            ConvergenceWarning naming
zeta = n^2, the 1/L step)                                      max_epochs (advised "raise lr")
X whose rows are all zero or all the same (the network         TrainingFailedError naming X and
dies)                                                          the data (blamed lr=50)
a two-layer fit that fails at a stable step (lr=0.01,           the message names the
jacobian_penalty=1e4)                                          regulariser (said "the step is
                                                               too large: lower lr to about 2.9")
weight decay at its exact stationary point (mean field,         trains: the data term's gradient
lr * weight_decay = 1: the regularised loss's gradient is      decides (was TrainingFailedError
exactly zero in float32)                                       "the network died")
synthetic data scaled by 0.1 (the loss never moves)            ConvergenceWarning naming the
                                                               tiny pre-activations (init_std,
                                                               kappa, scale X up)
kappa=1e-300 (kappa^(q-1) underflows in float32)               trains: the ReLU limit of the
                                                               Huberized ReLU (was NaN at epoch 1)
X scaled by 1e30                                               TrainingDivergedError naming the
                                                               input scale
a training loss that ends over 1000 times its first value      TrainingDivergedError naming lr
(finite: e.g. 3.6 -> 7e6 in 8 steps)                           (was returned as a result)
two-layer regressor, lr far above the stable step              TrainingDivergedError (or
                                                               TrainingFailedError if the ReLU
                                                               units die) with the stable lr
set_params(module__pooling="sum") on a fitted CNN              the module is re-initialised (as
                                                               in skorch) and filters_ / ranks
                                                               follow it
load_params into a fitted CNN                                  filters_ / ranks follow the
                                                               loaded weights
warm_start=True with a new input_shape / n_filters             ValueError naming the changed
                                                               parameters
partial_fit of a two-layer net with input_noise                fresh noise every step, also
                                                               across calls; the same
                                                               random_state gives the same run
fit after torch.set_default_dtype(torch.float64)               trains as under float32
input_shape not of positive ints ((1, 4.5, 64), (1, 4.0, 64))  ValueError naming input_shape
                                                               (4.0 was taken); arrays of
                                                               ints are taken
weights overflowing at the last step (lr=1e38)                 TrainingDivergedError (was torch's
                                                               LinAlgError from the ranks)
NaN in X under sklearn's assume_finite=True (fit skips the      TrainingDivergedError naming NaN in
check)                                                         X and assume_finite (blamed the
                                                               activation, q and kappa)
one epoch (max_epochs=1, a partial_fit stream) with lr=1e6     TrainingDivergedError: the loss
                                                               at the final weights is measured
                                                               (was returned as a result)
several epochs whose last step blew the loss up (lr=10 for    TrainingDivergedError: the loss
two epochs, 2.02 -> 111 recorded, 1.1e5 after the last         at the final weights is measured
step; a CNN schedule raising lr 1e8-fold at the last step)     unless a bound on the last step
                                                               rules divergence out (was a
                                                               warning, or nothing)
one epoch with lr=1e-12 (also batched, as in a sweep)          ConvergenceWarning "learned
                                                               nothing" (was silent)
a loss that ended above its start, below 1000-fold             ConvergenceWarning "did not
(lr=0.52 for 10 epochs: 5.8 -> 276)                            train: the training loss rose"
                                                               (was returned as a result)
a train_split whose training part holds one class of y's      ValueError naming train_split and
several (unstratified split of sorted labels)                  a stratified split (trained on
                                                               one class, a result)
predict, score, ranks, scorers or gradient_decomposition of    NotFittedError naming the failed
the network a failed fit left (the error caught)               fit (score 0.42 of NaN
                                                               probabilities, predictions 2e10)
a fit that raises with RankHistory / GradientSpectrum          the ranks of the epochs before it
                                                               are in history; the callbacks
                                                               hold no snapshot or data copy
a call that continues a fit (partial_fit, warm_start) at a     ConvergenceWarning "got worse in
larger step: the loss rose 0.77 -> 160 in a call (R^2 = -88)   a call that continued its
                                                               training" (was returned without
                                                               a word: only new fits were
                                                               judged)
a learning-rate schedule (LRScheduler) that raised the step    the message names the step the
at the end and diverged                                        schedule set (blamed "lr=1 is too
                                                               large"; the two-layer net called
                                                               its lr stable)
a mini-batch fit that diverged within its first epoch          the start is named the first
                                                               epoch's mean, beside its first
                                                               mini-batch's loss (read "grew
                                                               from 18582.7" for a start of 2.2)
=============================================================  ==================================
"""

import warnings

import numpy as np
import pytest
import sklearn
import torch
from sklearn.exceptions import ConvergenceWarning

from sklrank import RankCNNClassifier, TwoLayerNetClassifier, TwoLayerNetRegressor
from sklrank.datasets import fetch_mnist, make_low_rank_patches, make_spiked
from sklrank.exceptions import TrainingDivergedError, TrainingFailedError


def synthetic(n=120, **kwargs):
    return make_low_rank_patches(n_samples=n, noise_std=0.5, random_state=0, **kwargs)


def cnn(**kwargs):
    params = dict(input_shape=(1, 4, 64), kernel_size=(1, 64), n_filters=8, max_epochs=30,
                  random_state=0)
    return RankCNNClassifier(**{**params, **kwargs})


# ---------------------------------------------------------------- failed fits
@pytest.fixture(scope="module")
def mnist_3_8(mnist_dir):
    return fetch_mnist(subset="train", classes=[3, 8], n_samples=300, random_state=0,
                       return_X_y=True, data_home=mnist_dir.parent)


def mnist_cnn(**kwargs):
    return RankCNNClassifier(input_shape=(1, 28, 28), kernel_size=(14, 14), n_filters=4,
                             max_epochs=50, random_state=0, **kwargs)


def test_raw_pixels_are_a_failed_fit_naming_the_input_scale(mnist_3_8):
    X, y = mnist_3_8
    raw = (X * 255).round().astype(np.uint8)
    with pytest.raises(TrainingFailedError, match=r"died.*input scale.*pixels / 255"):
        mnist_cnn().fit(raw, y)
    # the same images in [0, 1] train
    assert mnist_cnn().fit(X, y).score(X, y) > 0.9


def test_huge_lr_is_a_failed_fit_naming_lr(mnist_3_8):
    X, y = mnist_3_8
    with pytest.raises(TrainingFailedError, match=r"lr=1e\+06 is too large.*lower lr"):
        mnist_cnn(lr=1e6).fit(X, y)


def test_weight_decay_at_its_stationary_point_is_no_dead_network():
    # lambda W cancels the data term's gradient exactly in float32 (mean-field scaling,
    # lr * weight_decay = 1): the last step's gradient is zero, the data term's is not. It
    # was TrainingFailedError "the network died", which stopped `sklrank gradients --figure
    # regularisers` at its defaults (mean-field tanh, weight decay 2)
    X, y = make_spiked(n_samples=100, n_features=120, alpha=8 / 9, nu=1 / 8,
                       random_state=0)[:2]
    est = TwoLayerNetRegressor(n_hidden=150, scaling="mean_field", activation="tanh",
                               weight_decay=2.0, lr=0.5, max_epochs=50, random_state=0)
    est.fit(X, y)
    weight = next(est.module_.parameters())
    assert not weight.grad.any()  # the last step's gradient, as training left it
    assert weight.detach().any() and np.isfinite(est.predict(X)).all()
    # the data term's own gradient is -weight_decay * W there, not zero
    est.module_.zero_grad()
    est.module_.train()  # (in evaluation the output is a detached float64 copy)
    est.get_loss(est.infer(torch.as_tensor(X, dtype=torch.float32)), torch.as_tensor(
        y.reshape(-1, 1), dtype=torch.float32), training=False).backward()
    torch.testing.assert_close(weight.grad, -2.0 * weight.detach(), rtol=1e-3, atol=1e-6)
    # a network that died (no regulariser: raw pixels) still raises, see above


def test_unmoved_loss_warns_with_the_cause():
    X, y = synthetic(n=200)
    with pytest.warns(ConvergenceWarning, match=r"learned nothing.*init_std.*kappa"):
        clf = cnn(max_epochs=300, n_filters=40).fit(0.1 * X, y)
    assert clf.history[0, "train_loss"] == pytest.approx(clf.history[-1, "train_loss"],
                                                         rel=1e-3)
    # a healthy fit of the same data does not warn
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        cnn(max_epochs=300, n_filters=40).fit(X, y)


def test_tiny_kappa_is_the_relu_limit_not_a_divergence():
    # kappa -> 0 turns the Huberized ReLU into the ReLU; the activation computes it without
    # dividing by kappa^(q-1), which underflowed (NaN at the first step) before
    X, y = synthetic()
    tiny = cnn(kappa=1e-300).fit(X, y)
    relu = cnn(activation="relu").fit(X, y)
    np.testing.assert_array_equal(tiny.filters_, relu.filters_)


def test_divergence_names_the_input_scale():
    X, y = synthetic()
    with pytest.raises(TrainingDivergedError, match="input scale") as info:
        cnn().fit(X * 1e30, y)
    assert isinstance(info.value, FloatingPointError)  # the old contract still holds


@pytest.mark.parametrize("lr, epochs", [(0.5, 8), (1.0, 5)])
def test_a_finite_loss_that_exploded_is_a_divergence(lr, epochs):
    # the loss grew 2e6-fold and stayed finite: the fit was returned as a result (and the
    # gradient studies marked the run diverged=False)
    X, y = make_spiked(120, 20, nu=0.3, random_state=0)
    with pytest.raises(TrainingDivergedError, match=r"the training loss grew from 3\.64\d* to "
                                                    r".* in \d+ epochs.*lower lr to about"):
        TwoLayerNetRegressor(n_hidden=16, lr=lr, max_epochs=epochs, random_state=0).fit(X, y)
    # three epochs at lr=0.5: the loss has grown less than 1000-fold, no divergence, but a
    # loss that rose (the model is returned, with a ConvergenceWarning)
    with pytest.warns(ConvergenceWarning, match="the training loss rose"):
        fit = TwoLayerNetRegressor(n_hidden=16, lr=0.5, max_epochs=3, random_state=0).fit(X, y)
    assert fit.history[-1, "train_loss"] < 1e3 * fit.history[0, "train_loss"]


def test_a_one_epoch_fit_that_exploded_is_a_divergence():
    # an epoch records the loss of the weights it starts from: a fit of one epoch had no
    # loss after its step to compare, and lr=1e6 was returned as a result (weights 3e5,
    # R^2 = -7e11), with no error and no warning
    X, y = make_spiked(50, 20, random_state=0)
    reg = TwoLayerNetRegressor(n_hidden=10, lr=1e6, max_epochs=1, random_state=0)
    with pytest.raises(TrainingDivergedError, match=r"grew from 1\.67\d* to \S+ in 1 epoch "
                                                    r"\(the last value measured at the final "
                                                    r"weights\).*lower lr"):
        reg.fit(X, y)
    # a partial_fit stream of one epoch a call: its first exploding call says so
    stream = TwoLayerNetRegressor(n_hidden=10, lr=1e6, max_epochs=1, random_state=0)
    with pytest.raises(TrainingDivergedError, match="final weights"):
        stream.partial_fit(X, y)
    # and a step that trains is a result
    TwoLayerNetRegressor(n_hidden=10, lr=0.05, max_epochs=1, random_state=0).fit(X, y)


def test_a_last_step_that_exploded_is_a_divergence():
    # an epoch records the loss of the weights it starts from, so a fit of several epochs was
    # judged by the loss before its last step: lr=10, two epochs, recorded 2.02 -> 111, was
    # returned with a warning that the loss "rose to 111"; at the final weights it is 1.1e5
    X, y = make_spiked(50, 20, random_state=0)
    reg = TwoLayerNetRegressor(n_hidden=30, lr=10.0, max_epochs=2, random_state=0)
    with pytest.raises(TrainingDivergedError, match=r"grew from 2\.02\d* to 11385\d in "
                                                    r"2 epochs \(the last value measured at the "
                                                    r"final weights\)"):
        reg.fit(X, y)
    # the CNN: a schedule that raises lr 1e8-fold for the last step (random labels: no
    # separation absorbs it) took the loss from 0.69 to about 4000, returned without a word
    from skorch.callbacks import LRScheduler
    from torch.optim.lr_scheduler import LambdaLR

    X, y = synthetic(60)
    y = np.random.RandomState(0).permutation(y)
    schedule = LRScheduler(LambdaLR, lr_lambda=lambda epoch: 1.0 if epoch < 2 else 1e8)
    clf = cnn(activation="relu", lr=1.0, max_epochs=3, callbacks=[("lr", schedule)])
    with pytest.raises(TrainingDivergedError, match=r"grew from 0\.69\d* to \S+ in 3 epochs "
                                                    r"\(the last value measured at the final"):
        clf.fit(X, y)


def test_a_fit_of_several_full_batch_epochs_bounds_its_last_step(monkeypatch):
    # the CNN's last step is bounded from its filter change and the largest patch norm: a fit
    # that cannot have diverged pays no forward pass for its final loss (half an epoch)
    X, y = synthetic(60)
    passes = []
    measuring = RankCNNClassifier._measuring
    monkeypatch.setattr(RankCNNClassifier, "_measuring",
                        lambda self: passes.append(1) or measuring(self))
    for activation in ("huberized", "relu"):
        cnn(activation=activation, lr=50.0).fit(X, y)
    assert passes == []
    cnn(max_epochs=1, lr=50.0).fit(X, y)  # one epoch of a new fit: measured
    assert passes == [1]


@pytest.mark.parametrize("batched", [False, True])
def test_a_one_epoch_fit_that_learned_nothing_warns(batched):
    # (lr=1e-12, one epoch: returned without the ConvergenceWarning two epochs give)
    from sklrank._batched import fit_batched

    X, y = synthetic(60)
    with pytest.warns(ConvergenceWarning, match=r"learned nothing.*in 1 epoch \(the last "
                                                 r"value measured at the final weights\)"):
        if batched:  # the sweeps' batched training says the same for each point
            fits = fit_batched([cnn(lr=1e-12, max_epochs=1, random_state=s) for s in (0, 1)],
                               [(X, y), (X, y)])
            assert all(len(fit.warnings) == 1 for fit in fits)
        else:
            cnn(lr=1e-12, max_epochs=1).fit(X, y)
    reg = TwoLayerNetRegressor(n_hidden=10, lr=1e-12, max_epochs=1, random_state=0)
    X, y = make_spiked(50, 20, random_state=0)
    with pytest.warns(ConvergenceWarning, match="learned nothing"):
        reg.partial_fit(X, y)
    # a call that continues the fit (a stream near its optimum moves little) is not judged
    # by its one step
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg.partial_fit(X, y)


def test_a_loss_that_rose_warns():
    # a step just above the stable one: the loss ended 47 times above its start after 10
    # epochs (R^2 = -99), below the divergence's 1000-fold, and was returned as a result
    X, y = make_spiked(80, 20, random_state=0)
    reg = TwoLayerNetRegressor(n_hidden=20, lr=0.52, max_epochs=10, random_state=0)
    with pytest.warns(ConvergenceWarning, match=r"did not train: the training loss rose from "
                                                 r"5\.846\d* to 276\.\d* in 10 epochs.*lower lr"):
        reg.fit(X, y)
    # with 30 epochs it settles below its start: a result
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg.set_params(max_epochs=30).fit(X, y)


@pytest.mark.parametrize("how", ["partial_fit", "warm_start"])
def test_a_call_that_made_a_stream_worse_warns(how):
    # a stream switched to a larger step: the "rose" warning judged fits from new weights
    # only, and the divergence needs a 1000-fold growth, so a call that took the loss from
    # 0.77 to 160 (R^2 = -88) was returned without a word
    X, y = make_spiked(120, 20, nu=0.3, random_state=0)
    reg = TwoLayerNetRegressor(n_hidden=16, lr=0.05, max_epochs=3, random_state=0,
                               warm_start=how == "warm_start")
    train = reg.partial_fit if how == "partial_fit" else reg.fit
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        for _ in range(10):
            train(X, y)
    reg.set_params(lr=2.0)
    with pytest.warns(ConvergenceWarning, match=r"got worse in a call that continued its "
                                                 r"training: the training loss rose from "
                                                 r"0\.76\d* to .* in 3 epochs \(the last value "
                                                 r"measured at the final weights\), more than "
                                                 r"2 times.*lower lr"):
        train(X, y)
    assert reg.score(X, y) < 0


@pytest.mark.parametrize("make", [
    lambda bs: TwoLayerNetRegressor(n_hidden=64, lr=0.045, input_noise=0.5, batch_size=bs,
                                    max_epochs=1, random_state=0),
    lambda bs: cnn(lr=50.0, batch_size=bs, max_epochs=1)])
@pytest.mark.parametrize("batch_size", [-1, 8])
def test_a_healthy_noisy_stream_does_not_warn(make, batch_size):
    # the stream check's margin: calls near the optimum of a stream of fresh noisy data
    # (input noise, mini-batches) move the loss up by at most ~11 %, far below 2-fold
    net = make(batch_size)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        for seed in range(30):
            net.set_params(max_epochs=30 if seed == 0 else 1)  # a first fit that trained
            if isinstance(net, TwoLayerNetRegressor):
                X, y = make_spiked(64, 20, nu=0.3, random_state=seed)
            else:
                X, y = make_low_rank_patches(n_samples=64, noise_std=0.5, random_state=seed)
            net.partial_fit(X, y)


def test_a_full_batch_cnn_stream_pays_no_forward_pass_for_the_stream_check(monkeypatch):
    # the CNN's bound on its last step is loose near the optimum (about 1 for a loss of
    # 0.05 at lr=50): the stream check compares the losses a full-batch call measures anyway
    # (the final loss where the divergence check needs it, else the recorded ones), and a
    # stream's call is not slower (a forward pass for it doubled a one-epoch call)
    X, y = synthetic(60)
    y = np.random.RandomState(0).permutation(y)  # (random labels: no separation absorbs a step)
    clf = cnn(lr=50.0).fit(X, y)
    passes = []
    measuring = RankCNNClassifier._measuring
    monkeypatch.setattr(RankCNNClassifier, "_measuring",
                        lambda self: passes.append(1) or measuring(self))
    for epochs in (1, 3):
        clf.set_params(max_epochs=epochs).partial_fit(X, y)
    assert passes == []
    # a call of several epochs whose recorded loss rose is judged by them
    with pytest.warns(ConvergenceWarning, match=r"got worse in a call that continued its "
                                                 r"training: the training loss rose from "
                                                 r"\S+ to \S+ in 3 epochs.*more than 2 times"):
        clf.set_params(lr=1e4).partial_fit(X, y)


def test_a_schedule_that_raised_the_step_is_named():
    # a divergence under a learning-rate schedule blamed the base lr ("lr=1 is too large";
    # the two-layer net called its lr=0.01 stable and blamed the activation): the message
    # names the step the schedule set at the end
    from skorch.callbacks import LRScheduler
    from torch.optim.lr_scheduler import LambdaLR

    def schedule(factor):
        return [("lr", LRScheduler(LambdaLR, lr_lambda=lambda e: 1.0 if e < 2 else factor))]

    X, y = make_spiked(50, 20, random_state=0)
    reg = TwoLayerNetRegressor(n_hidden=30, lr=0.01, max_epochs=3, random_state=0,
                               callbacks=schedule(1e4))
    with pytest.raises(TrainingDivergedError, match=r"lr_t = 100, the step the learning-rate "
                                                    r"schedule set at the end \(lr=0\.01\); "
                                                    r"lr_t \* mean .*2\.64e\+03.*lower lr "
                                                    r"\(or the schedule\) so that lr_t stays "
                                                    r"below about 0\.0379"):
        reg.fit(X, y)
    X, y = synthetic(60)
    y = np.random.RandomState(0).permutation(y)
    clf = cnn(activation="relu", lr=1.0, max_epochs=3, callbacks=schedule(1e8))
    with pytest.raises(TrainingDivergedError, match=r"lr=1, which the learning-rate schedule "
                                                    r"set to 1e\+08 at the end, is too large"):
        clf.fit(X, y)


def test_a_mini_batch_start_is_named_as_a_mean():
    # with mini-batches the first recorded loss is the mean over the first epoch, whose
    # steps may already have blown it up: "grew from 18582.7" for a fit that began at 2.2
    X, y = make_spiked(120, 20, nu=0.3, random_state=0)
    reg = TwoLayerNetRegressor(n_hidden=16, lr=0.3, max_epochs=4, batch_size=8, random_state=0)
    with pytest.raises(TrainingDivergedError, match=r"grew from 18582\.\d* \(the mean over the "
                                                    r"first epoch's 15 mini-batches, during which "
                                                    r"the weights already moved; its first "
                                                    r"mini-batch, at the weights the call began "
                                                    r"with: 2\.207\d*\) to "):
        reg.fit(X, y)


def test_two_layer_too_large_step_names_the_stable_lr():
    # (the logistic loss of the classifier saturates instead: a huge step on separable data
    # gives large logits and a perfect fit, which is a result)
    X, y = make_spiked(150, 40, nu=0.3, target="spike", random_state=0)
    with pytest.raises(TrainingFailedError, match=r"step is too large.*lower lr to about"):
        TwoLayerNetRegressor(n_hidden=32, lr=50.0, max_epochs=30, random_state=0).fit(X, y)
    TwoLayerNetRegressor(n_hidden=32, lr=0.02, max_epochs=30, random_state=0).fit(X, y)


@pytest.mark.parametrize("rows", ["zero", "the same"])
def test_a_dead_fit_on_rows_without_variation_names_x(rows):
    # an all-zero X was blamed on the step: "lr=50 is too large for inputs of this scale"
    X, y = make_low_rank_patches(n_samples=60, noise_std=0.5, random_state=0)
    X = np.zeros_like(X) if rows == "zero" else np.tile(X[:1], (len(X), 1))
    estimators = [TwoLayerNetClassifier(n_hidden=8, max_epochs=20, random_state=0)]
    if rows == "zero":  # (a CNN on one repeated row learns the class prior: no failure)
        estimators.append(RankCNNClassifier(input_shape=(1, 4, 64), kernel_size=(1, 64),
                                            n_filters=4, max_epochs=20, random_state=0))
    for est in estimators:
        with pytest.raises(TrainingFailedError,
                           match=rf"died.*Likely cause: every row of X is {rows}, so the inputs "
                                 r"carry nothing to learn the targets from: check the data"):
            est.fit(X, y)


def test_an_unmoved_loss_at_a_large_step_does_not_advise_raising_lr():
    # a spike of zeta = n^2 (alpha=1, nu=2): the study's 1/L step leaves a loss of 3e11
    # unmoved in 4 epochs; the warning advised "raise lr (about 4.18e-06 is stable)" at an lr
    # whose step is 2e5 times the data term's stable estimate
    from sklrank.gradients import regulariser_study

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = regulariser_study(n_samples=60, n_features=50, n_hidden=60, settings=((1, 2),),
                               scalings=("mean_field",), activations=("tanh",), n_seeds=1,
                               max_epochs=4, record_epochs=(2,),
                               strengths={"weight_decay": (0.2,), "input_noise": (1.0,),
                                          "jacobian_penalty": (1.0,)})
    messages = set(df["training_warning"])
    assert messages and all("learned nothing" in m for m in messages), messages
    assert all("too few epochs (max_epochs=4)" in m and "raise max_epochs" in m
               and "raise lr" not in m for m in messages), messages


def test_a_failure_at_a_stable_step_names_the_regularisers_not_a_lower_lr():
    # the data term's step is 0.0035 of its stable bound and the Jacobian penalty's curvature
    # diverges the fit: the message said "the step is too large ... lower lr to about 2.9"
    # at lr=0.01, a lower lr three hundred times the current one
    X, y = make_spiked(120, 20, nu=0.3, random_state=0)[:2]
    with pytest.raises(TrainingDivergedError) as info:
        TwoLayerNetRegressor(n_hidden=16, lr=0.01, jacobian_penalty=1e4, max_epochs=30,
                             random_state=0).fit(X / 10, y)
    message = str(info.value)
    assert "too large" not in message and "lower lr to about" not in message
    assert ("within the data term's stable range" in message
            and "(jacobian_penalty=10000; lower it or lr)" in message), message


@pytest.mark.parametrize("defer", [True, False])
def test_weights_that_overflow_at_the_last_step_are_a_divergence(defer):
    # the ranks' eigensolver got the non-finite filters first and raised torch's LinAlgError
    # ("failed to converge"), which a sweep does not take for a failed fit
    from sklrank.callbacks import RankHistory

    X, y = synthetic()
    net = cnn(max_epochs=1, lr=1e38, rank_every=None,
              callbacks=[("ranks", RankHistory(defer=defer))])
    with pytest.raises(TrainingDivergedError, match="NaN or infinity"):
        net.fit(X * 1000, y)


def test_a_failed_fit_keeps_the_ranks_before_it_and_releases_the_callbacks_state():
    # skorch calls on_train_end only when training ends: the deferred ranks of the epochs
    # before a divergence were never written, and the snapshots and GradientSpectrum's
    # float64 copy of X stayed on the net (and were pickled with it)
    import pickle

    from sklrank.callbacks import GradientSpectrum, RankHistory

    X, y = make_spiked(50, 20, random_state=0)
    net = TwoLayerNetRegressor(
        n_hidden=30, lr=100.0, max_epochs=20, random_state=0,
        callbacks=[("ranks", RankHistory(defer=True)), ("grad", GradientSpectrum(every=100))],
    )
    with pytest.raises(TrainingFailedError) as info:
        net.fit(X, y)
    failed_epoch = len(net.history)
    assert f"epoch {failed_epoch}" in str(info.value) and failed_epoch > 2
    ranks = [row.get("filter_stable_rank") for row in net.history]
    assert all(np.isfinite(ranks[:-1])) and ranks[-1] is None
    callbacks = dict(net.callbacks_)
    assert callbacks["ranks"]._snapshots is None and callbacks["ranks"]._rows == []
    assert not hasattr(callbacks["grad"], "X_fit_") and not hasattr(callbacks["grad"], "y_fit_")
    assert b"X_fit_" not in pickle.dumps(net)


# ---------------------------------------------------------------- stale attributes
@pytest.mark.parametrize("make", [lambda **k: cnn(max_epochs=5, **k),
                                  lambda **k: TwoLayerNetClassifier(n_hidden=4, max_epochs=5,
                                                                    random_state=0, **k)])
def test_a_training_part_of_one_class_is_refused(make):
    # an unstratified split of sorted labels trained on one class: a network answering it
    # whatever the input, returned with no word (score 0.58)
    from skorch.dataset import ValidSplit

    X, y = synthetic(60)
    order = np.argsort(y, kind="stable")
    X, y = X[order], y[order]
    with pytest.raises(ValueError, match=r"the training part that train_split \(ValidSplit\) "
                                         r"makes holds one class only.*stratified=True"):
        make(train_split=ValidSplit(2, stratified=False)).fit(X, y)
    make(train_split=ValidSplit(0.2, random_state=0)).fit(X, y)  # (stratified: both classes)
    # a partial_fit batch of one class (every class given) is the stream's, and trains
    net = make(train_split=ValidSplit(2, stratified=False))
    net.partial_fit(X[y == y[0]], y[y == y[0]], classes=np.unique(y))


def test_the_network_of_a_failed_fit_is_not_a_result(tmp_path):
    # after the fit raised, predict and score answered from the broken network (score 0.42:
    # NaN probabilities, every label the first class; a regressor's predictions 2e10), and
    # sklearn's check_is_fitted took it for a fitted model
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    from sklrank._batched import fit_batched
    from sklrank.gradients import gradient_decomposition
    from sklrank.metrics import make_rank_scorer

    X, y = synthetic(60)
    clf = cnn(max_epochs=10)
    with pytest.raises(TrainingDivergedError):
        clf.fit(X * 1e20, y)
    uses = [lambda: clf.predict(X), lambda: clf.predict_proba(X), lambda: clf.score(X, y),
            lambda: clf.filter_stable_rank_, lambda: make_rank_scorer()(clf, X, y)]
    for use in uses:
        with pytest.raises(NotFittedError, match=r"a fit that failed.*training diverged at "
                                                 r"epoch 2.*Fit it again"):
            use()
    with pytest.raises(NotFittedError):  # (scikit-learn's own message)
        check_is_fitted(clf)
    assert len(clf.history) == 2  # what the fit recorded is still there
    good = cnn(max_epochs=10).fit(X, y)
    good.save_params(f_params=tmp_path / "good.pt")
    clf.load_params(f_params=tmp_path / "good.pt")  # other weights: a model again
    np.testing.assert_array_equal(clf.predict(X), good.predict(X))
    with pytest.raises(TrainingDivergedError):
        clf.fit(X * 1e20, y)
    assert clf.fit(X, y).score(X, y) == good.score(X, y)  # a new fit: a result again

    Xs, ys = make_spiked(50, 20, random_state=0)
    reg = TwoLayerNetRegressor(n_hidden=10, lr=1e3, max_epochs=3, random_state=0)
    with pytest.raises(TrainingDivergedError, match="grew from"):  # finite weights
        reg.fit(Xs, ys)
    for use in (lambda: reg.predict(Xs), lambda: gradient_decomposition(reg, Xs, ys)):
        with pytest.raises(NotFittedError, match="a fit that failed"):
            use()
    reg.initialize()  # new weights (as set_params(module__...) makes): a model
    assert np.isfinite(reg.predict(Xs)).all()
    # a sweep's batched fit leaves a point that failed as its own fit would
    nets = [cnn(max_epochs=5), cnn(max_epochs=5, random_state=1)]
    fits = fit_batched(nets, [(X * 1e20, y), (X, y)])
    assert isinstance(fits[0].error, TrainingDivergedError) and fits[1].error is None
    with pytest.raises(NotFittedError, match="a fit that failed"):
        nets[0].predict(X)
    nets[1].predict(X)


def test_set_params_reinitialising_the_module_refreshes_filters_and_ranks():
    X, y = synthetic()
    clf = cnn().fit(X, y)
    trained = clf.filters_.copy()
    clf.set_params(module__pooling="sum")  # skorch re-initialises the module at once
    assert clf.module_.pooling == "sum"
    now = clf.module_.filter_matrix().detach().numpy()
    np.testing.assert_array_equal(clf.filters_, now)
    assert not np.array_equal(clf.filters_, trained)
    from sklrank import stable_rank

    assert clf.filter_stable_rank_ == pytest.approx(stable_rank(now))


def test_load_params_and_more_training_refresh_filters(tmp_path):
    X, y = synthetic()
    first = cnn(random_state=1).fit(X, y)
    first.save_params(f_params=tmp_path / "first.pt")
    clf = cnn().fit(X, y)
    rank_before = clf.filter_stable_rank_
    clf.load_params(f_params=tmp_path / "first.pt")
    np.testing.assert_array_equal(clf.filters_, first.filters_)
    assert clf.filter_stable_rank_ == first.filter_stable_rank_ != rank_before
    clf.partial_fit(X, y)  # more training changes the weights, and so the attributes
    assert not np.array_equal(clf.filters_, first.filters_)


def test_filters_are_a_read_only_view_of_the_cache():
    X, y = synthetic()
    clf = cnn().fit(X, y)
    with pytest.raises(ValueError, match="read-only"):
        clf.filters_[0, 0] = 1.0


@pytest.mark.parametrize("change", [
    {"input_shape": (1, 8, 32), "kernel_size": (1, 32)},
    {"n_filters": 3},
    {"activation": "relu"},
])
def test_warm_start_refuses_a_new_network(change):
    X, y = synthetic()
    clf = cnn(warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="warm_start=True continues training.*" +
                       list(change)[0]):
        clf.set_params(**change).fit(X, y)


def test_warm_start_with_the_same_network_continues():
    X, y = synthetic()
    clf = cnn(warm_start=True, max_epochs=10).fit(X, y)
    first = clf.filters_.copy()
    clf.set_params(init_std=0.5).fit(X, y)  # init_std only shapes a new network
    assert len(clf.history) == 20 and not np.array_equal(first, clf.filters_)


# ---------------------------------------------------------------- noise across partial_fit
@pytest.mark.parametrize("Estimator", [TwoLayerNetRegressor, TwoLayerNetClassifier])
def test_partial_fit_draws_fresh_input_noise_every_step(Estimator):
    X, y = make_spiked(80, 15, nu=0.3, target="spike", random_state=0)
    if Estimator is TwoLayerNetClassifier:
        y = (y > 0).astype(int)
    params = dict(n_hidden=16, lr=0.05, input_noise=0.5, random_state=0)
    one_fit = Estimator(max_epochs=8, **params).fit(X, y)
    pieces = Estimator(max_epochs=2, **params)
    for _ in range(4):
        pieces.partial_fit(X, y)
    # four calls of two steps are the same eight steps: the noise stream goes on
    np.testing.assert_allclose(pieces.module_.weight.detach().numpy(),
                               one_fit.module_.weight.detach().numpy(), rtol=1e-5, atol=1e-7)
    again = Estimator(max_epochs=2, **params)
    for _ in range(4):
        again.partial_fit(X, y)
    np.testing.assert_array_equal(again.module_.weight.detach().numpy(),
                                  pieces.module_.weight.detach().numpy())


def test_noise_is_fresh_within_a_call_of_several_steps():
    X, y = make_spiked(80, 15, nu=0.3, random_state=0)
    reg = TwoLayerNetRegressor(n_hidden=16, lr=0.05, input_noise=0.5, max_epochs=1,
                               random_state=0)
    reg.partial_fit(X, y)
    w1 = reg.module_.weight.detach().clone()
    reg.partial_fit(X, y)
    w2 = reg.module_.weight.detach().clone()
    reg.partial_fit(X, y)
    w3 = reg.module_.weight.detach().clone()
    # equal noise would give nearly equal steps; fresh noise gives different ones
    assert not torch.allclose(w2 - w1, w3 - w2, rtol=1e-3, atol=1e-6)


# ---------------------------------------------------------------- other inputs
def test_fit_under_float64_default_dtype():
    X, y = synthetic()
    expected = cnn().fit(X, y).predict_proba(X)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        got = cnn().fit(X, y).predict_proba(X)
        Xs, ys = make_spiked(60, 10, nu=0.3, random_state=0)
        TwoLayerNetRegressor(n_hidden=8, lr=0.05, max_epochs=3, random_state=0).fit(Xs, ys)
    finally:
        torch.set_default_dtype(previous)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.parametrize("shape", [(1, 4.5, 64), (1, 4, 64.2), (True, 4, 64), "1,4,64",
                                   (1, 4.0, 64), np.array([1.0, 4.0, 64.0]),
                                   (1, np.True_, 64), (1, 0, 256), (1, 4), np.array(256)])
def test_fractional_input_shape_is_an_error(shape):
    # an integral float (4.0) was taken, where kernel_size, BackgroundNoise's image_shape
    # and patch_matrix refuse it
    X, y = synthetic()
    with pytest.raises(ValueError, match=r"input_shape'? (parameter of RankCNNClassifier )?"
                                         r"must be"):
        cnn(input_shape=shape).fit(X, y)


@pytest.mark.parametrize("shape", [np.array([1, 4, 64]), (np.int64(1), np.int32(4), 64),
                                   [1, 4, 64], np.array([1, 4, 64], dtype=np.uint8)])
@pytest.mark.parametrize("kernel", [(1, 64), np.array([1, 64]), [np.int64(1), 64]])
def test_shapes_of_numpy_ints_are_accepted(shape, kernel):
    # input_shape, kernel_size and stride given as arrays were refused (BackgroundNoise and
    # make_rank_pipeline took them)
    X, y = synthetic()
    clf = cnn(input_shape=shape, kernel_size=kernel, stride=kernel, max_epochs=2).fit(X, y)
    assert (clf.input_shape_, clf.kernel_size_, clf.stride_) == ((1, 4, 64), (1, 64), (1, 64))
    assert clf.get_params()["input_shape"] is shape  # stored as given
    clf.set_params(warm_start=True).fit(X, y)  # the same network: training continues
    assert len(clf.history) == 4


@pytest.mark.parametrize("Estimator", [RankCNNClassifier, TwoLayerNetClassifier])
def test_nan_in_x_under_assume_finite_is_named(Estimator):
    # scikit-learn's assume_finite=True skips fit's check of X: the failed fit named the
    # activation (or the input scale) as the likely cause
    X, y = synthetic()
    X[5, 3] = np.nan
    est = cnn() if Estimator is RankCNNClassifier else Estimator(n_hidden=8, max_epochs=2)
    with (sklearn.config_context(assume_finite=True),
          pytest.raises(TrainingDivergedError, match="X contains NaN or infinity.*assume_")):
        est.fit(X, y)


def test_device_side_nan_check():
    # on an accelerator X is checked where it lands (the CPU runs the same check here)
    X, _ = synthetic()
    X[2, 3] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        cnn()._checked_tensor(X, checked=False)
