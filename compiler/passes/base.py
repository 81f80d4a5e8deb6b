"""What a pass is: a pure function over the IR and the phases of IR it accepts and gives.

The IR goes through three phases (see :mod:`lwc.compiler.ir`): ``PLAIN``, a :class:`~lwc.compiler.
ir.Network` without shared nodes (as trained or loaded); ``SHARED``, a ``Network`` that may hold
shared nodes (after ``share``); ``COMPILED``, a :class:`~lwc.compiler.ir.CompiledNetwork`, every
width known (after ``infer_widths``). A pass declares the phases it accepts; calling it on a net
of another phase, or putting it in a pipeline after a pass whose output it does not accept, is
refused (so no pass can silently undo the sharing of an earlier one).
"""

import enum
from collections.abc import Callable
from dataclasses import dataclass

from ..ir import CompiledNetwork, VerifyError, is_shared

__all__ = ["Phase", "Pass", "phase_of", "check_order"]


class Phase(enum.Enum):
    PLAIN = "plain (no shared nodes, no widths)"
    SHARED = "shared (shared nodes, no widths)"
    COMPILED = "compiled (every width known)"


def phase_of(net):
    """The phase ``net`` is in, read from its type and structure."""
    if isinstance(net, CompiledNetwork):
        return Phase.COMPILED
    return Phase.SHARED if is_shared(net) else Phase.PLAIN


@dataclass(frozen=True)
class Pass:
    """A compiler pass: ``function(net, **options)`` returns a new net computing the same scores.

    ``accepts`` holds the phases of its input, ``gives`` the phase of its output. A plain net is
    also a valid ``SHARED`` one (with no nodes), so a pass accepting ``SHARED`` accepts it too.
    """

    name: str
    function: Callable
    accepts: frozenset
    gives: Phase

    @property
    def __name__(self):
        return self.name

    def takes(self, phase):
        """Whether the pass accepts a net in ``phase``."""
        return phase in self.accepts or (phase is Phase.PLAIN and Phase.SHARED in self.accepts)

    def __call__(self, net, **options):
        phase = phase_of(net)
        if not self.takes(phase):
            raise VerifyError(f"pass {self.name} takes a {_names(self.accepts)} net, not a "
                              f"{phase.value} one")
        return self.function(net, **options)

    def __repr__(self):
        return f"<pass {self.name}>"


def _names(phases):
    return " or ".join(p.name.lower() for p in sorted(phases, key=lambda p: p.value))


def check_order(passes, start=Phase.PLAIN):
    """Refuse a list of passes in which one does not accept the phase the passes before it give
    (starting from ``start``); return the phase of the result."""
    phase, previous = start, "the input"
    for p in passes:
        if not isinstance(p, Pass):
            raise VerifyError(f"{p!r} is not a compiler pass")
        if not p.takes(phase):
            raise VerifyError(f"pass {p.name} takes a {_names(p.accepts)} net, but "
                              f"{previous} gives a {phase.value} one")
        phase, previous = p.gives, f"pass {p.name}"
    return phase
