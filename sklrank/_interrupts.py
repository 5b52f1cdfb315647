"""Ctrl-C during a fit inside sklrank's own loops (the sweeps, the gradient studies).

skorch catches the KeyboardInterrupt of a Ctrl-C, ends the fit early and returns as if it had
finished, which is what an interactive user wants of one fit. A sweep or a study would then
record a fit of fewer epochs as a result; around their fits the interrupt is raised again.
"""

import contextlib
import contextvars
import signal
import threading


@contextlib.contextmanager
def interrupts_raised():
    """Raise KeyboardInterrupt at the end of the block if a Ctrl-C (SIGINT) came during it.

    Only in the main thread with Python's own SIGINT handler (another thread's fit: the main
    thread gets the interrupt; a handler of the caller's: left alone). The signal still
    interrupts where it comes, as Python's handler does.
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    noted, closing = [], []

    def note_and_interrupt(signum, frame):
        noted.append(signum)
        if not closing:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, note_and_interrupt)
    try:
        yield
    finally:
        # A Ctrl-C here must not leave this handler installed (its KeyboardInterrupt would
        # skip the restore, and every later block would find a handler not Python's own and
        # let skorch swallow the next Ctrl-C): once closing, the handler only notes it.
        while True:
            try:
                closing.append(True)
                signal.signal(signal.SIGINT, signal.default_int_handler)
                break
            except KeyboardInterrupt:
                noted.append(signal.SIGINT)
    # (not reached when the interrupt, or any error, leaves the block by itself)
    if noted:
        raise KeyboardInterrupt  # skorch ended the fit early: not a result


class StopSignal:
    """Stop the fits other threads of this process run for one sweep, and wait for them.

    A Ctrl-C reaches the main thread only: fits in worker threads (joblib's threading
    backend) trained on, and torch threads still running when the interpreter exits abort
    it. The sweep's fits run under :meth:`fitting`, which makes the estimator end its fit at
    the next epoch once :meth:`stop_and_wait` was called (``stop_requested``).
    """

    def __init__(self):
        self._stop = threading.Event()
        self._active = 0
        self._idle = threading.Condition()

    @contextlib.contextmanager
    def fitting(self):
        """Run a fit that ends early (then raising KeyboardInterrupt) when a stop comes."""
        with self._idle:
            self._active += 1
        token = _STOP.set(self._stop)
        try:
            yield
        finally:
            _STOP.reset(token)
            with self._idle:
                self._active -= 1
                self._idle.notify_all()
        if self._stop.is_set():
            raise KeyboardInterrupt  # the fit was ended early: not a result

    def stop_and_wait(self, timeout=60.0):
        """Ask the running fits to stop, and wait (at most ``timeout`` s) until they have."""
        self._stop.set()
        with self._idle:
            self._idle.wait_for(lambda: self._active == 0, timeout=timeout)


# The stop event of the sweep whose fit runs in this thread (None outside sweeps).
_STOP = contextvars.ContextVar("sklrank_sweep_stop", default=None)


def stop_requested():
    """Whether the sweep running a fit in this thread asked it to stop."""
    event = _STOP.get()
    return event is not None and event.is_set()
