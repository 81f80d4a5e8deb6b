"""Compiler passes, one per module; each is a pure ``Network -> Network`` function.

:data:`PIPELINE` is the one place that says which passes run and in what order; :func:`run`
verifies the IR after every pass. :func:`pipeline` gives it with or without ``share`` (the
benchmark compares the two).
"""

from ..ir import verify
from .fold_constants import fold_constants
from .infer_widths import infer_widths
from .remove_unread import remove_unread
from .remove_unused_inputs import remove_unused_inputs
from .share import share

__all__ = ["PIPELINE", "pipeline", "run", "fold_constants", "remove_unread",
           "remove_unused_inputs", "share", "infer_widths"]

PIPELINE = (fold_constants, remove_unread, remove_unused_inputs, share, infer_widths)


def pipeline(*, share=True):
    """:data:`PIPELINE`, without the ``share`` pass when ``share`` is false."""
    return PIPELINE if share else tuple(p for p in PIPELINE if p.__name__ != "share")


def run(net, passes=PIPELINE, *, on_pass=None):
    """Run ``passes`` over ``net`` in order, verifying after each; return the result.

    ``on_pass(pass_fn, before, after)`` is called after each pass when given (tests use it to check
    that the golden model's predictions never change).
    """
    verify(net)
    for pass_fn in passes:
        after = verify(pass_fn(net))
        if on_pass is not None:
            on_pass(pass_fn, net, after)
        net = after
    return net
