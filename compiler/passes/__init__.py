"""Compiler passes, one per module; each is a :class:`~.base.Pass`, a pure ``net -> net`` function
that declares the phases of IR it accepts and gives (see :mod:`.base`).

The pipeline is the explicit lists below, in one place: :data:`PRUNE` removes what computes
nothing (constant and unread neurons, inputs no neuron reads) on plain receptive fields;
:data:`PIPELINE` then builds shared sub-sums and infers every width; :data:`PIPELINE_UNSHARED`
infers the widths without sharing (``lwc compile --no-share``, and the benchmark compares the
two). :func:`pipeline` puts ``tabulate`` (or ``tabulate_all``) after the pruning when asked
(``lwc compile --tables``), so that ``share`` leaves the table neurons alone.
:func:`compile_network` runs one of them and returns the
:class:`~lwc.compiler.ir.CompiledNetwork` that lowering takes. :func:`run` refuses a list in which
a pass does not accept what the pass before it gives, and verifies the IR after every pass.
"""

from ..ir import verify
from .base import Pass, Phase, check_order, phase_of
from .fold_constants import fold_constants
from .infer_widths import infer_widths
from .remove_unread import remove_unread
from .remove_unused_inputs import remove_unused_inputs
from .share import share
from .tabulate import tabulate, tabulate_all

__all__ = ["PRUNE", "PIPELINE", "PIPELINE_UNSHARED", "pipeline", "run", "compile_network",
           "Pass", "Phase", "phase_of", "check_order", "fold_constants", "remove_unread",
           "remove_unused_inputs", "share", "tabulate", "tabulate_all", "infer_widths",
           "TABLES", "DEFAULT_TABLES"]

#: Remove constant neurons (folded into their readers), unread neurons and unused inputs.
PRUNE = (fold_constants, remove_unread, remove_unused_inputs)
#: The compiler without table neurons: prune, share sub-sums between the neurons of a layer,
#: infer every width (:func:`pipeline` puts the ``tabulate`` pass of its choice in).
PIPELINE = (*PRUNE, share, infer_widths)
#: The compiler without sharing.
PIPELINE_UNSHARED = (*PRUNE, infer_widths)


#: The choices of table neurons: none, where the cost model finds them cheaper, or every neuron
#: whose table fits (``lwc compile --tables``).
TABLES = {"off": (), "auto": (tabulate,), "all": (tabulate_all,)}
#: The choice ``lwc compile`` (and every other compile) makes unless told (``--tables``): tables
#: where they are cheaper (``docs/benchmarks.md``, "Neurons as truth tables").
DEFAULT_TABLES = "auto"


def pipeline(*, share=True, tables=DEFAULT_TABLES):
    """:data:`PIPELINE`, or :data:`PIPELINE_UNSHARED` when ``share`` is false, with the
    ``tabulate`` pass of ``tables`` (a key of :data:`TABLES`) after the pruning."""
    if tables not in TABLES:
        raise ValueError(f"tables must be one of {', '.join(TABLES)}, not {tables!r}")
    chosen = PIPELINE if share else PIPELINE_UNSHARED
    return (*PRUNE, *TABLES[tables], *chosen[len(PRUNE):])


def run(net, passes=PIPELINE, *, on_pass=None):
    """Run ``passes`` over ``net`` in order, verifying after each; return the result.

    The order is checked first (:func:`~.base.check_order`), from the phase ``net`` is in.
    ``on_pass(pass_, before, after)`` is called after each pass when given (tests use it to check
    that the golden model's predictions never change).
    """
    verify(net)
    passes = tuple(passes)
    check_order(passes, phase_of(net))
    for pass_ in passes:
        after = verify(pass_(net))
        if on_pass is not None:
            on_pass(pass_, net, after)
        net = after
    return net


def compile_network(net, *, share=True, tables=DEFAULT_TABLES, on_pass=None):
    """``net`` (as trained or loaded) through the whole pipeline (:func:`pipeline`): its
    :class:`~lwc.compiler.ir.CompiledNetwork`, computing the same scores (``on_pass`` as for
    :func:`run`)."""
    return run(net, pipeline(share=share, tables=tables), on_pass=on_pass)
