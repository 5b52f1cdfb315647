"""What skorch takes for the parameters of a net or a callback, and the parameter validation
of scikit-learn with booleans refused where a number is meant."""

import functools
import inspect
from numbers import Integral

import numpy as np
from sklearn import get_config
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    make_constraint,
)
from sklearn.utils._param_validation import (
    validate_parameter_constraints as _sklearn_validate_parameter_constraints,
)
from sklearn.utils._param_validation import validate_params as _sklearn_validate_params

# the most seeds and epochs of a run: defined without imports, for the command line
from ._limits import MAX_EPOCHS, MAX_SEEDS  # noqa: F401


class _PublicParams:
    """Mixin (left of a skorch net or callback): only public attributes are parameters.

    skorch lists every attribute not ending in ``_`` as a parameter, so the private ones
    (skorch's own bookkeeping, e.g. ``_params_to_validate``, and the state a fit leaves on a
    callback) would show in ``get_params`` and be passed to ``__init__`` by ``clone``.
    """

    def _get_param_names(self):
        return [k for k in super()._get_param_names() if not k.startswith("_")]


class _Unbounded(Interval):
    """An :class:`~sklearn.utils._param_validation.Interval` without bounds, said as what it
    takes: "an int" (scikit-learn's own words, "an int in the range (-inf, inf)", read as if
    a range were meant)."""

    def __str__(self):
        if self.type is Integral:
            return "an int"
        if self.closed == "neither":
            return "a finite float"
        return super().__str__()  # (the infinities it takes: the range says which)


def _plain_constraints(parameter_constraints):
    """``parameter_constraints`` with every ``Interval`` without bounds said plainly (see
    :class:`_Unbounded`); it takes the same values."""

    def plain(constraint):
        if (isinstance(constraint, Interval) and not isinstance(constraint, _Unbounded)
                and constraint.left is None and constraint.right is None):
            return _Unbounded(constraint.type, None, None, closed=constraint.closed)
        return constraint

    return {name: constraints if isinstance(constraints, str) else
            [plain(c) for c in constraints]
            for name, constraints in parameter_constraints.items()}


def refuse_bools(parameter_constraints, params, caller_name):
    """Raise InvalidParameterError for a bool given where the constraints take numbers only.

    scikit-learn (1.9) checks ``Interval(Integral, ...)``, ``Interval(Real, ...)`` and
    ``"random_state"`` with ``isinstance``, for which Python's ``True`` is the int 1 (numpy's
    ``np.True_`` is refused): ``n_filters=True`` trained one filter. A bool is refused unless
    a constraint of the parameter takes bools (``"boolean"``, ``"verbose"``, ``bool``,
    ``object``), with scikit-learn's message for ``np.True_``.
    """
    parameter_constraints = _plain_constraints(parameter_constraints)
    for name, value in params.items():
        constraints = parameter_constraints.get(name)
        if (not isinstance(value, bool | np.bool_) or constraints is None
                or constraints == "no_validation"
                or any(_takes_bools(constraint) for constraint in constraints)):
            continue
        shown = [c for c in map(make_constraint, constraints) if not c.hidden]
        allowed = (str(shown[0]) if len(shown) == 1
                   else f"{', '.join(map(str, shown[:-1]))} or {shown[-1]}")
        raise InvalidParameterError(
            f"The {name!r} parameter of {caller_name} must be {allowed}. Got {value!r} "
            "instead (a bool is not taken for a number)."
        )


def _takes_bools(constraint):
    """Whether a bool is meant as a bool (or as anything at all) under ``constraint``."""
    if isinstance(constraint, str):
        return constraint in ("boolean", "verbose", "no_validation")
    return constraint is bool or constraint is np.bool_ or constraint is object


def validate_parameter_constraints(parameter_constraints, params, caller_name):
    """:func:`refuse_bools`, then scikit-learn's ``validate_parameter_constraints`` (a bool
    gets one message, also where scikit-learn would refuse it as a number out of range)."""
    parameter_constraints = _plain_constraints(parameter_constraints)
    refuse_bools(parameter_constraints, params, caller_name)
    _sklearn_validate_parameter_constraints(parameter_constraints, params, caller_name)


def validate_params(parameter_constraints, *, prefer_skip_nested_validation):
    """scikit-learn's ``validate_params`` decorator, with :func:`refuse_bools` before it.

    Skipped where scikit-learn skips its own validation (``skip_parameter_validation``, e.g.
    in a call nested in another validated one). An ``Interval`` without bounds is said as
    its type in the messages ("an int", see :class:`_Unbounded`).
    """
    parameter_constraints = _plain_constraints(parameter_constraints)

    def decorator(func):
        validated = _sklearn_validate_params(
            parameter_constraints, prefer_skip_nested_validation=prefer_skip_nested_validation
        )(func)
        signature = inspect.signature(func)

        @functools.wraps(validated)
        def wrapper(*args, **kwargs):
            if not get_config()["skip_parameter_validation"]:
                try:
                    bound = signature.bind(*args, **kwargs)
                except TypeError:  # (scikit-learn's wrapper raises it, as Python would)
                    bound = None
                if bound is not None:
                    refuse_bools(parameter_constraints, bound.arguments, func.__qualname__)
            return validated(*args, **kwargs)

        return wrapper

    return decorator


class _ValidatedParams:
    """Mixin (left of scikit-learn's BaseEstimator): ``_validate_params`` refuses a bool
    where a number is meant (see :func:`refuse_bools`)."""

    def _validate_params(self):
        validate_parameter_constraints(
            self._parameter_constraints,
            self.get_params(deep=False),
            caller_name=type(self).__name__,
        )
