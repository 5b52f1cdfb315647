"""Errors raised when a network's training ends in a state that is not a result.

scikit-learn's convention is followed: an error where nothing useful is left (the network
diverged or died), a :class:`sklearn.exceptions.ConvergenceWarning` where the fitted model is
usable but training did not do its job (the loss never moved (or rose) from its start).
"""

__all__ = ["TrainingFailedError", "TrainingDivergedError"]


class TrainingFailedError(RuntimeError):
    """Training ended with a network that is not a result (e.g. every unit died).

    The message names what happened, the epoch, and the likely cause measured from the data
    and the parameters (input scale, ``lr``, ``kappa``, ``init_std``) with the fix.

    Examples
    --------
    >>> from sklrank.exceptions import TrainingFailedError
    >>> issubclass(TrainingFailedError, RuntimeError)
    True
    """


class TrainingDivergedError(TrainingFailedError, FloatingPointError):
    """The training loss or the weights stopped being finite (NaN or infinity), or the loss
    exploded (it ended more than 1000 times above its first value).

    Also a :class:`FloatingPointError`, so ``except FloatingPointError`` catches it.

    Examples
    --------
    >>> from sklrank.exceptions import TrainingDivergedError
    >>> issubclass(TrainingDivergedError, FloatingPointError)
    True
    """
