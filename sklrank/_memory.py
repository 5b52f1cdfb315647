"""The check that an array about to be made fits in this machine's memory.

Huge sizes otherwise fail inside numpy ("Unable to allocate 728 TiB", "Maximum allowed
dimension exceeded") or torch, in messages that name no parameter; or, below the machine's
address space, they are granted and the process is killed when the pages are touched.
"""

import os


def machine_memory_bytes():
    """This machine's physical memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def check_fits_in_memory(need, subject, details, fix):
    """Raise a ValueError when ``need`` bytes exceed this machine's physical memory.

    The message reads "{subject} needs about N GiB of memory ({details}), more than the
    M GiB of this machine; lower {fix}.": ``details`` names the sizes (the parameters and
    their values) that make ``need``, ``fix`` the parameters to lower.
    """
    memory = machine_memory_bytes()
    if memory is None or need <= memory:
        return
    raise ValueError(
        f"{subject} needs about {need / 2**30:.3g} GiB of memory ({details}), more than the "
        f"{memory / 2**30:.3g} GiB of this machine; lower {fix}."
    )
