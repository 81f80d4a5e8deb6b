"""The hard blocks of the platform a component is elaborated for."""

from amaranth.vendor import LatticeICE40Platform

__all__ = ["ultraplus"]


def ultraplus(platform, chosen=None):
    """Whether to instantiate an iCE40 UltraPlus's hard blocks (``SB_SPRAM256KA``, ``SB_MAC16``)
    rather than describe them as logic: ``chosen`` when it is ``True`` or ``False``, otherwise
    whether ``platform`` is an UltraPlus (a :class:`LatticeICE40Platform` of an ``iCE40UP*``
    device)."""
    if chosen is not None:
        return chosen
    return isinstance(platform, LatticeICE40Platform) and platform.device.startswith("iCE40UP")
