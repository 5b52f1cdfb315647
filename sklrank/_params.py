"""What skorch takes for the parameters of a net or a callback, and a parameter constraint."""

from numbers import Integral

from sklearn.utils._param_validation import Interval


class _PublicParams:
    """Mixin (left of a skorch net or callback): only public attributes are parameters.

    skorch lists every attribute not ending in ``_`` as a parameter, so the private ones
    (skorch's own bookkeeping, e.g. ``_params_to_validate``, and the state a fit leaves on a
    callback) would show in ``get_params`` and be passed to ``__init__`` by ``clone``.
    """

    def _get_param_names(self):
        return [k for k in super()._get_param_names() if not k.startswith("_")]


class IntInterval(Interval):
    """``Interval(Integral, left, right, closed=...)`` that refuses booleans.

    ``True`` is an ``Integral`` for Python, so scikit-learn's ``Interval`` takes it as 1: a
    count such as ``n_samples=True`` then failed deep inside numpy, and ``rank=True`` or
    ``n_components=True`` ran with 1. With this constraint ``validate_params`` and
    ``_validate_params`` report it, naming the parameter, as any value out of range.
    """

    def __init__(self, left, right, *, closed):
        super().__init__(Integral, left, right, closed=closed)

    def is_satisfied_by(self, val):
        return not isinstance(val, bool) and super().is_satisfied_by(val)
