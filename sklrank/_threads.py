"""One way to run a block with a given number of torch and BLAS threads."""

import contextlib


@contextlib.contextmanager
def thread_limits(n_threads):
    """Run torch and the BLAS library with ``n_threads`` threads, then restore both.

    Float reductions depend on how the work is split between threads (torch's intra-op
    threads; numpy's BLAS in SVDs and rank computations), so a fixed count gives the same bits
    in the main process, in a joblib worker (which joblib limits to its share of the cores)
    and on a Dask worker; in parallel workers one thread each keeps them from
    oversubscribing the cores. ``None`` leaves both as they are.
    """
    # imported here: the command line imports this module before it needs torch
    import torch
    from threadpoolctl import threadpool_limits

    if n_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        with threadpool_limits(limits=n_threads, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(previous)
