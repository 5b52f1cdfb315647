"""Ctrl-C during a fit inside sklrank's own loops (the sweeps, the gradient studies).

skorch catches the KeyboardInterrupt of a Ctrl-C, ends the fit early and returns as if it had
finished, which is what an interactive user wants of one fit. A sweep or a study would then
record a fit of fewer epochs as a result; around their fits the interrupt is raised again.
"""

import contextlib
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
    noted = []

    def note_and_interrupt(signum, frame):
        noted.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, note_and_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # (not reached when the interrupt, or any error, leaves the block by itself)
    if noted:
        raise KeyboardInterrupt  # skorch ended the fit early: not a result
