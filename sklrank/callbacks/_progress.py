"""EpochProgressBar: the tqdm bar the sklrank estimators show with ``progress_bar=True``."""

from skorch.callbacks import Callback

__all__ = ["EpochProgressBar"]


class EpochProgressBar(Callback):
    """A tqdm progress bar per fit when ``net.progress_bar``: one tick an epoch.

    Private: the sklrank estimators add it to their default callbacks (as ``"progress"``)
    and switch it with their ``progress_bar`` parameter. The bar (``tqdm.auto``, on stderr) is
    created in ``on_train_begin`` only when ``net.progress_bar`` is true, so a silent fit
    neither imports tqdm nor prints anything, and it is closed in ``on_train_end``. Its
    postfix shows the epoch's ``train_loss`` as ``loss`` and, when the history row holds it,
    ``filter_stable_rank`` as ``filter_sr``.

    Attributes
    ----------
    bar_ : tqdm.tqdm or None
        The bar of the fit in progress; None outside a fit that shows one.
    """

    bar_ = None

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self._close()  # a fit that raised (e.g. diverged) never reached on_train_end
        if getattr(net, "progress_bar", False):
            from tqdm.auto import tqdm

            self.bar_ = tqdm(
                total=net.max_epochs, desc=type(net).__name__, unit="epoch", leave=False
            )

    def on_epoch_end(self, net, **kwargs):
        if self.bar_ is None:
            return
        row = net.history[-1]
        postfix = {}
        if "train_loss" in row:
            postfix["loss"] = f"{row['train_loss']:.4g}"
        if "filter_stable_rank" in row:
            postfix["filter_sr"] = f"{row['filter_stable_rank']:.3f}"
        self.bar_.set_postfix(postfix, refresh=False)
        self.bar_.update()

    def on_train_end(self, net, X=None, y=None, **kwargs):
        self._close()

    def _close(self):
        if self.bar_ is not None:
            self.bar_.close()
            self.bar_ = None
