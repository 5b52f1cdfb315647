"""Names the gradient studies take, without imports: the command line reads them to build
its parser (``sklrank gradients --help`` shows them without loading torch or pandas)."""

ACTIVATIONS = ("relu", "tanh", "sigmoid", "huberized")
