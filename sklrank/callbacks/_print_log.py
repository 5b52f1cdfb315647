"""skorch's per-epoch table, with columns that stay under their headers."""

from numbers import Number

import numpy as np
import torch
from skorch.callbacks import PrintLog as _SkorchPrintLog

from .._params import _PublicParams


def _is_scalar(value):
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return value.ndim == 0
    return value is None or isinstance(value, (Number, str, np.generic))


class PrintLog(_PublicParams, _SkorchPrintLog):
    """skorch's ``PrintLog``, with columns that stay under their headers.

    skorch's own table takes each line's columns from that epoch's history keys, so a key
    recorded on some epochs only (``RankHistory(every=2)``, ``GradientSpectrum(every=2)``)
    moves the other numbers of those lines under the wrong headers, and gets no header of its
    own (skorch's documentation says so). This table keeps the header's columns: the first
    epoch's keys and the keys sklrank's callbacks say they record; a line leaves the cells of
    the keys it lacks empty, and a key that appears later adds its column and prints the
    header again. Values that are not scalars (the per-bank ranks of ``RankHistory``, a list
    a callback records) get no column.

    sklrank's estimators use it by default. On a plain skorch net, pass it in place of
    skorch's: ``NeuralNetClassifier(..., callbacks__print_log=PrintLog())``.

    Parameters
    ----------
    keys_ignored : str or list of str, default=None
        History keys left out of the table, besides those skorch leaves out (``batches``,
        keys ending in ``_best``, and those starting with ``event_``, which are shown in a
        column of their own).

    sink : callable, default=print
        Where each line goes (``print``, a logger's method, ...). The table is formatted only
        when the net is verbose or the sink is not ``print``.

    tablefmt : str, default='simple'
        The table format of ``tabulate`` ('plain', 'grid', 'pipe', ...).

    floatfmt : str, default='.4f'
        The number format of ``tabulate``.

    stralign : str or None, default='right'
        The alignment of string columns: 'left', 'center', 'right' or None.

    Attributes
    ----------
    keys_ignored_ : set of str
        The keys left out of the table, those of skorch included.

    See Also
    --------
    sklrank.callbacks.RankHistory : Records the filter stable rank every ``every`` epochs.
    sklrank.callbacks.GradientSpectrum : Records the gradient's spectrum every ``every``
        epochs.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from skorch import NeuralNetClassifier
    >>> from sklrank.callbacks import PrintLog, RankHistory
    >>> X = np.random.default_rng(0).standard_normal((40, 8)).astype(np.float32)
    >>> y = (X[:, 0] > 0).astype(np.int64)
    >>> lines = []
    >>> net = NeuralNetClassifier(
    ...     torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2)),
    ...     criterion=torch.nn.CrossEntropyLoss, max_epochs=4, train_split=None,
    ...     callbacks=[RankHistory(every=2)],
    ...     callbacks__print_log=PrintLog(sink=lines.append),
    ... ).fit(X, y)
    >>> lines[0].split()
    ['epoch', 'filter_stable_rank', 'train_loss', 'dur']
    """

    def initialize(self):
        super().initialize()
        self._columns = None
        return self

    def on_epoch_end(self, net, **kwargs):
        if not (net.verbose or self.sink is not print):
            return
        row = net.history[-1]
        keys = {key for key, value in row.items() if _is_scalar(value)}
        if self._columns is None:
            for _, callback in getattr(net, "callbacks_", ()):
                recorded = getattr(callback, "_recorded_keys", None)
                if recorded is not None:
                    keys.update(recorded(net))
            self._columns = super()._sorted_keys(keys)
        elif not set(super()._sorted_keys(keys)) <= set(self._columns):
            self._columns = super()._sorted_keys(keys | set(self._columns))
            self.first_iteration_ = True  # the header again, with the new column
        super().on_epoch_end(net, **kwargs)

    def _sorted_keys(self, keys):
        return super()._sorted_keys(keys) if self._columns is None else self._columns

    def format_row(self, row, key, color):
        """One cell of the table: empty where the epoch has no value for the key.

        Parameters
        ----------
        row : dict
            One epoch of the net's history.

        key : str
            The column's history key.

        color : str
            The ANSI colour of the column (used for a value that is the best so far).

        Returns
        -------
        cell : str
            The formatted value, or ``""``.
        """
        return super().format_row(row, key, color) if key in row else ""
