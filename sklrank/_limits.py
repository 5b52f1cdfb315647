"""Limits on the sizes of a run, shared by the Python API and the command line.

No imports: the command line reads them to build its parser, which ``sklrank --help`` and
``sklrank sweep --help`` show without loading torch, scikit-learn or pandas.
"""

# The most seeds a sweep, a study or a command takes (``n_seeds``, a list of ``seeds``,
# ``--seeds``): every fit of every seed is listed before the first one runs, and 2000000000
# seeds filled the memory with that list until the process was killed; 100000 seeds a
# setting is far more than a mean over seeds needs.
MAX_SEEDS = 100_000

# The most epochs a sweep, a gradient study or a command trains (``max_epochs`` of
# ``classifier_params`` and of the studies, ``--max-epochs``, ``--epochs``): a thousand times
# the longest default (1000, the synthetic sweep's). Measured on one CPU thread, an epoch takes
# about 5 ms for the synthetic sweep's default fit and 50 ms for the gradient figures at the
# paper's sizes: 1000000 epochs are 80 minutes a fit and 14 hours a run, and 10**9 (accepted
# before) two months a fit. The estimators themselves take any ``max_epochs``, as skorch's
# nets do (a fit stops at Ctrl-C, or early with EarlyStopping).
MAX_EPOCHS = 1_000_000
