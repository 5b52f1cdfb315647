"""scikit-learn's input validation, converting to numpy whatever ``array_api_dispatch`` says."""

from sklearn import config_context
from sklearn.utils.validation import validate_data as _sklearn_validate_data

__all__ = ["validate_data"]


def validate_data(*args, **kwargs):
    """:func:`sklearn.utils.validation.validate_data`, with array API dispatch off.

    sklrank's estimators and transformers do not support scikit-learn's array API dispatch
    (their tag ``array_api_support`` is False): they convert their inputs themselves, to numpy
    and to torch tensors on their ``device``. With ``sklearn.set_config(array_api_dispatch=
    True)``, scikit-learn's validation keeps a torch tensor a torch tensor and fails to cast
    it (``TypeError: asarray(): argument 'dtype' must be torch.dtype, not type``), so the
    tensors the estimators otherwise take were refused. Here the inputs are validated and
    converted as without dispatch (the setting is ignored, and outputs are numpy arrays).
    Every sklrank call of ``validate_data`` goes through this function.
    """
    with config_context(array_api_dispatch=False):
        return _sklearn_validate_data(*args, **kwargs)
