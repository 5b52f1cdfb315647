"""What skorch takes for the parameters of a net or a callback."""


class _PublicParams:
    """Mixin (left of a skorch net or callback): only public attributes are parameters.

    skorch lists every attribute not ending in ``_`` as a parameter, so the private ones
    (skorch's own bookkeeping, e.g. ``_params_to_validate``, and the state a fit leaves on a
    callback) would show in ``get_params`` and be passed to ``__init__`` by ``clone``.
    """

    def _get_param_names(self):
        return [k for k in super()._get_param_names() if not k.startswith("_")]
