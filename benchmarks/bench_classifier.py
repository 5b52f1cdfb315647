"""RankCNNClassifier against a hand-written PyTorch loop, and its GFLOP/s against torch.matmul.

Run: ``python benchmarks/bench_classifier.py`` (``--quick`` for a smaller run); or all
benchmarks at once with ``python benchmarks/run.py``.

Both sides train the identical model (:class:`sklrank.nn.TwoLayerCNN`, same geometry, same
initial filters, plain SGD on the whole training set) on the identical float32 data, starting
from numpy arrays, so they do the same FLOPs. The time of a fit is its wall-clock time
divided by its number of epochs, so the classifier pays for everything a user's call costs
(validation, skorch's loop, callbacks, the fitted attributes); fits of the two sides alternate,
and medians over repeats are compared.

Cases: "synthetic" is the default data of the generator of the synthetic experiment (1000
samples of 4 patches of 64 values, 2 classes, noise level 1); "mnist-sized" is 10000 56 x 56
canvases (the 2 x 2 noise canvas of 28 x 28 images: one low-rank signal tile, three noise
tiles) with a 28 x 28 kernel and 10 classes.
"""

import argparse
import statistics
import sys
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from _timing import checked_device, seconds
from sklearn.exceptions import ConvergenceWarning

from sklrank import RankCNNClassifier
from sklrank.datasets import make_low_rank_patches
from sklrank.nn import TwoLayerCNN

N_FILTERS = 40


def _synthetic(n_samples):
    X, y = make_low_rank_patches(n_samples=n_samples, noise_std=1.0, random_state=0)
    return X.astype(np.float32), y, (1, 4, 64), (1, 64)


def _mnist_sized(n_samples):
    # 10 classes of low-rank 28 x 28 signal tiles among three N(0, 1) noise tiles, laid out
    # as the 2 x 2 canvas of BackgroundNoise: the 56 x 56 images MNIST gives the sweep
    X, y = make_low_rank_patches(n_samples=n_samples, n_features=784, n_patches=4,
                                 n_classes=10, noise_std=1.0, random_state=0)
    canvas = X.reshape(n_samples, 2, 2, 28, 28).transpose(0, 1, 3, 2, 4)
    return canvas.reshape(n_samples, 56 * 56).astype(np.float32), y, (1, 56, 56), (28, 28)


CASES = {
    # name: (data builder, n_samples full / quick, epochs full / quick, learning rate)
    "synthetic": (_synthetic, (1000, 1000), (300, 100), 50.0),
    # lr: a step at which 10 epochs move the loss (2.303 -> 2.254 at n = 10000); at lr=1
    # the fits learn nothing in so few epochs (the classifier warns), at the same cost
    "mnist-sized": (_mnist_sized, (10000, 2000), (10, 5), 200.0),
}


def _classifier(input_shape, kernel_size, lr, epochs, rank_every, device="cpu"):
    return RankCNNClassifier(
        input_shape=input_shape, kernel_size=kernel_size, n_filters=N_FILTERS, lr=lr,
        max_epochs=epochs, rank_every=rank_every, random_state=0, device=device,
    )


def hand_written_fit(X, y, input_shape, kernel_size, lr, epochs, seed, device="cpu"):
    """The loop a user would write: the same module, SGD, cross-entropy, full batch."""
    X_t = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(device)
    y_t = torch.from_numpy(np.unique(y, return_inverse=True)[1].astype(np.int64)).to(device)
    torch.manual_seed(seed)
    model = TwoLayerCNN(input_shape, kernel_size, n_classes=len(np.unique(y)),
                        n_filters=N_FILTERS, init_std=0.01).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(X_t), y_t)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())  # what a user logs every step (as skorch records it)
    return model, losses


def forward_backward_flops(n_samples, n_patches, filter_dim, n_outputs):
    """FLOPs of one forward + backward pass: the patch-filter product and the filters' gradient
    (two matrix products of 2 n P D (B m) FLOPs; the input needs no gradient)."""
    return 4 * n_samples * n_patches * filter_dim * n_outputs


def forward_backward_against_matmul(X, y, input_shape, kernel_size, repeats, device="cpu"):
    """GFLOP/s of the model's forward + backward pass on the full batch (the cross-entropy
    loss and its gradient, as in a training step without the optimizer) and of torch.matmul
    doing the forward-pass and weight-gradient products of the model's shapes alone (the
    same FLOP count, nothing else), timed alternately so that both see the same state of the
    machine; returns (model GFLOP/s, matmul GFLOP/s, median of the paired ratios)."""
    X_t = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(device)
    y_t = torch.from_numpy(np.unique(y, return_inverse=True)[1].astype(np.int64)).to(device)
    torch.manual_seed(0)
    n_classes = len(np.unique(y))
    model = TwoLayerCNN(input_shape, kernel_size, n_classes=n_classes, n_filters=N_FILTERS,
                        init_std=0.01).to(device)
    n_patches = (input_shape[1] // kernel_size[0]) * (input_shape[2] // kernel_size[1])
    filter_dim = input_shape[0] * kernel_size[0] * kernel_size[1]
    n_outputs = n_classes * N_FILTERS
    a = torch.randn(len(X) * n_patches, filter_dim, device=device)
    w = torch.randn(filter_dim, n_outputs, device=device)
    g = torch.randn(len(X) * n_patches, n_outputs, device=device)

    def forward_backward():
        model.zero_grad()
        F.cross_entropy(model(X_t), y_t).backward()
        if device != "cpu":
            torch.cuda.synchronize()

    def matmul():
        a @ w, g.T @ a  # noqa: B018 (the products are what is timed)
        if device != "cpu":
            torch.cuda.synchronize()

    flops = forward_backward_flops(len(X), n_patches, filter_dim, n_outputs)
    forward_backward(), matmul()  # warm-up
    model_s, matmul_s = [], []
    for _ in range(repeats):
        model_s.append(seconds(forward_backward))
        matmul_s.append(seconds(matmul))
    ratios = [m / f for f, m in zip(model_s, matmul_s)]
    return (flops / statistics.median(model_s) / 1e9, flops / statistics.median(matmul_s) / 1e9,
            statistics.median(ratios))


def bench_case(name, quick=False, repeats=5, device="cpu"):
    """Median seconds per epoch of the classifier (with and without per-epoch ranks) and of
    the hand-written loop, with the achieved GFLOP/s; one dict."""
    build, sizes, epochs, lr = CASES[name]
    n = sizes[quick]
    epochs = epochs[quick]
    X, y, input_shape, kernel_size = build(n)
    n_classes = len(np.unique(y))
    n_patches = (input_shape[1] // kernel_size[0]) * (input_shape[2] // kernel_size[1])
    filter_dim = input_shape[0] * kernel_size[0] * kernel_size[1]

    def loop(n_epochs=epochs):
        return hand_written_fit(X, y, input_shape, kernel_size, lr, n_epochs, seed, device)

    def classifier(rank_every, n_epochs=epochs):
        clf = _classifier(input_shape, kernel_size, lr, n_epochs, rank_every, device)
        return clf.fit(X, y)

    seed = _classifier(input_shape, kernel_size, lr, epochs, None)._init_seed()
    times = {"loop": [], "classifier_no_rank": [], "classifier": []}
    # warm-up (allocator, thread pool, lazy imports), then alternate the three; two epochs
    # move the loss too little for the classifier's "learned nothing" check, which is not
    # what is measured here
    loop(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier(1, 2)
    for _ in range(repeats):
        times["loop"].append(seconds(loop))
        times["classifier_no_rank"].append(seconds(lambda: classifier(None)))
        times["classifier"].append(seconds(lambda: classifier(1)))
    per_epoch = {k: statistics.median(v) / epochs for k, v in times.items()}

    # same model, same data: the two sides must agree on the trained filters
    model, _ = loop()
    filters = model.filter_matrix().detach().cpu().numpy()
    max_filter_diff = float(np.abs(filters - classifier(None).filters_).max())

    flops = forward_backward_flops(n, n_patches, filter_dim, n_classes * N_FILTERS)
    return {
        "case": name,
        "device": device,
        "n_samples": n,
        "shape": f"{input_shape[1]}x{input_shape[2]}, kernel {kernel_size[0]}x{kernel_size[1]}",
        "epochs": epochs,
        "loop_s_per_epoch": per_epoch["loop"],
        "classifier_no_rank_s_per_epoch": per_epoch["classifier_no_rank"],
        "classifier_s_per_epoch": per_epoch["classifier"],
        "ratio_no_rank": per_epoch["classifier_no_rank"] / per_epoch["loop"],
        "ratio_with_rank": per_epoch["classifier"] / per_epoch["loop"],
        "max_filter_diff": max_filter_diff,
        "epoch_gflops": flops / per_epoch["classifier_no_rank"] / 1e9,
        "loop_gflops": flops / per_epoch["loop"] / 1e9,
        **dict(zip(["model_gflops", "matmul_gflops", "model_over_matmul"],
                   forward_backward_against_matmul(X, y, input_shape, kernel_size,
                                                   repeats=max(2 * repeats, 9), device=device))),
    }


def paper_scale(n_samples=60000, epochs=3, device="cpu"):
    """The classifier against the loop at the paper's size (mnist-sized: 10 classes of
    56 x 56 canvases, 40 filters a class, ranks every epoch), in a fresh process: seconds per
    epoch of both, each the fastest of three fits run in turn (classifier, loop, classifier,
    loop, ...: the first fits of a process pay for the first touch of its memory, and a fit of
    a few epochs varies by 10 % with the machine's load), and the peak
    resident memory of the process when the first classifier's fit ends (the data, the fit,
    nothing of the loop)."""
    import json
    import subprocess

    out = subprocess.run(
        [sys.executable, __file__, "--paper-scale-worker", str(n_samples), str(epochs), device],
        check=True, capture_output=True, text=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["ratio"] = result["classifier_s_per_epoch"] / result["loop_s_per_epoch"]
    return result


def _paper_scale_worker(n_samples, epochs, device):
    import json
    import resource
    import time

    X, y, input_shape, kernel_size = _mnist_sized(n_samples)
    lr = CASES["mnist-sized"][3]
    small = _mnist_sized(200)  # one-time costs (imports, thread pool) out of the timings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # two epochs move the loss little
        _classifier(*small[2:], lr, 2, 1, device).fit(*small[:2])
    hand_written_fit(*small[:2], *small[2:], lr, 2, 0, device)
    classifier_s, loop_s, peak_mib = [], [], None
    for _ in range(3):
        start = time.perf_counter()
        _classifier(input_shape, kernel_size, lr, epochs, 1, device).fit(X, y)
        classifier_s.append((time.perf_counter() - start) / epochs)
        if peak_mib is None:
            peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        start = time.perf_counter()
        hand_written_fit(X, y, input_shape, kernel_size, lr, epochs, 0, device)
        loop_s.append((time.perf_counter() - start) / epochs)
    print(json.dumps({"n_samples": n_samples, "epochs": epochs, "device": device,
                      "classifier_s_per_epoch": min(classifier_s),
                      "loop_s_per_epoch": min(loop_s),
                      "peak_rss_mib": peak_mib, "data_mib": X.nbytes / 2**20}))


def run(quick=False, repeats=5, device="cpu"):
    return [bench_case(name, quick=quick, repeats=repeats, device=device) for name in CASES]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--paper-scale-worker"]:
        return _paper_scale_worker(int(argv[1]), int(argv[2]), argv[3])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller data, fewer repeats")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    args = parser.parse_args(argv)
    checked_device(parser, args.device)
    for r in run(quick=args.quick, repeats=2 if args.quick else 5, device=args.device):
        print(
            f"{r['case']:>12}: loop {r['loop_s_per_epoch'] * 1e3:.2f} ms/epoch | classifier "
            f"{r['classifier_no_rank_s_per_epoch'] * 1e3:.2f} (x{r['ratio_no_rank']:.2f}), "
            f"with ranks {r['classifier_s_per_epoch'] * 1e3:.2f} (x{r['ratio_with_rank']:.2f}) | "
            f"{r['model_gflops']:.1f} GFLOP/s vs matmul {r['matmul_gflops']:.1f}"
        )


if __name__ == "__main__":
    main()
