"""Pareto fronts of a sweep (:mod:`lwc.sweep`), the published points of other tools, and the
plot that shows both.

:func:`front` is the one definition of "on the front": a point is on it when no other point is
at least as good in every objective and better in one. Exact duplicates therefore stay on the
front together (neither dominates the other), and of two points tied in one objective the one
worse in the other is dominated. Pure Python, no NumPy: the sweep calls it on its rows, the tests
on constructed points.

:data:`PEERS` are other tools' MNIST figures as their papers publish them. They count different
things: a Xilinx LUT6 holds any function of six inputs, an iCE40 LUT4 of four, and how many LUT4
a LUT6 design would take depends on its functions (one to several), so no factor is applied: the
peers are plotted at their published counts and marked so (:data:`LUT_CAVEAT`).
"""

import csv
import io
from dataclasses import dataclass

__all__ = ["front", "Peer", "PEERS", "LUT_CAVEAT", "peer_table", "plot", "FRONT_COLUMNS",
           "front_csv", "load_front"]


def front(points, objectives):
    """The indices (in input order) of the points of ``points`` that no other point dominates.

    Parameters
    ----------
    points : sequence of sequences of numbers
        One tuple per point, one number per objective. A point with a ``None`` among them is on
        no front and dominates nothing (a failed point, a figure not measured).
    objectives : sequence of str
        ``"max"`` or ``"min"`` per coordinate.

    A point ``a`` dominates ``b`` when it is at least as good in every objective and strictly
    better in at least one; equal points do not dominate each other, so duplicates are all kept.
    """
    signs = []
    for objective in objectives:
        if objective not in ("max", "min"):
            raise ValueError(f"objective must be 'max' or 'min', not {objective!r}")
        signs.append(1 if objective == "max" else -1)
    scored = []
    for index, point in enumerate(points):
        if len(point) != len(signs):
            raise ValueError(f"point {index} has {len(point)} values for {len(signs)} objectives")
        if any(value is None for value in point):
            continue
        scored.append((index, tuple(s * v for s, v in zip(signs, point))))
    kept = []
    for index, a in scored:
        dominated = any(all(x >= y for x, y in zip(b, a)) and b != a for _, b in scored)
        if not dominated:
            kept.append(index)
    return kept


#: The caveat every plot and table of the peers states.
LUT_CAVEAT = ("peers as published: a Xilinx LUT6 is not an iCE40 LUT4 (no conversion factor "
              "applied: the LUT4s a LUT6 function needs range from one to several), and gates "
              "are not LUTs")


# The caveat in the plot's legend, short.
_PLOT_CAVEAT = ("peers as published: a LUT6 is not an iCE40 LUT4,\n"
                "gates are not LUTs; no factor applied")


@dataclass(frozen=True)
class Peer:
    """A published point of another tool: ``accuracy`` (percent, or ``None`` where the source
    gives none) at ``resources`` of ``unit`` (``"LUT6"``, ``"LUT4"``, ``"gates"``), from
    ``source``; ``note`` says what the count leaves out."""

    name: str
    dataset: str
    accuracy: float | None
    resources: int
    unit: str
    source: str
    note: str = ""
    fmax_mhz: float | None = None


#: Published MNIST points (issue 17), plotted as published.
PEERS = (
    Peer("DWN", "mnist", 97.1, 692, "LUT6", "arXiv 2410.11112",
         "core only; its thermometer encoder can add up to 3.2x (arXiv 2512.15251)"),
    Peer("TreeLUT", "mnist", 97.0, 4478, "LUT6", "arXiv 2501.01511"),
    Peer("LILogicNet", "mnist", 98.45, 8000, "gates", "arXiv 2511.12340"),
    Peer("PolyLUT-Add", "mnist", 96.0, 14810, "LUT6", "arXiv 2406.04910"),
    Peer("Lattice sensAI BNN", "mnist", None, 2419, "LUT4",
         "Lattice sensAI BNN engine on the iCE40 UP5K", "accuracy not given with this figure",
         fmax_mhz=41.8),
)


def peer_table(peers=PEERS):
    """The peers as a plain-text table, each row with its source, and the caveat under it."""
    lines = [f"{'peer':<20} {'accuracy':>8} {'resources':>14}  source"]
    for p in peers:
        accuracy = "-" if p.accuracy is None else f"{p.accuracy:.2f}%"
        fmax = f" at {p.fmax_mhz:g} MHz" if p.fmax_mhz else ""
        note = f" ({p.note})" if p.note else ""
        lines.append(f"{p.name:<20} {accuracy:>8} {p.resources:>8,} {p.unit:<5}  "
                     f"{p.source}{fmax}{note}")
    lines.append(LUT_CAVEAT)
    return "\n".join(lines)


#: The columns of a saved front (:func:`front_csv`): the group (a board), the figures plotted and
#: the placed ones. Accuracy is a fraction, as in a sweep's rows.
FRONT_COLUMNS = ("group", "accuracy", "lc_estimate", "images_per_s", "placed_lut4", "placed_lc")


def front_csv(rows, group=None):
    """``rows`` (a front's, dicts as a sweep's rows) as CSV text, one line each with
    :data:`FRONT_COLUMNS` (``group``: a function of a row, such as its board), so that a later
    front can be drawn beside it (:func:`load_front`, :func:`plot`'s ``previous``)."""
    group = group or (lambda row: "")
    text = io.StringIO()
    out = csv.writer(text, lineterminator="\n")
    out.writerow(FRONT_COLUMNS)
    for r in rows:
        out.writerow([group(r), *("" if r.get(k) is None else r[k] for k in FRONT_COLUMNS[1:])])
    return text.getvalue()


def load_front(path):
    """The rows of a front saved as :func:`front_csv` (or written by hand with its columns):
    dicts with ``group`` and the figures as numbers (``None`` where a cell is empty).

    Raises
    ------
    ValueError
        One line naming ``path``: unreadable, a column missing, or a cell not a number.
    """
    try:
        with open(path, newline="") as f:
            lines = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"{path}: not a readable front ({exc})") from None
    rows = []
    for number, line in enumerate(lines, 2):
        missing = [k for k in ("group", "accuracy", "lc_estimate") if line.get(k) is None]
        if missing:
            raise ValueError(f"{path}: no column {missing[0]!r}")
        row = {"group": line["group"] or None}
        for key in FRONT_COLUMNS[1:]:
            cell = (line.get(key) or "").strip()
            try:
                row[key] = float(cell) if cell else None
            except ValueError:
                raise ValueError(f"{path}: line {number}: {key} {cell!r} is not a number") from None
        if row["accuracy"] is None:
            raise ValueError(f"{path}: line {number}: no accuracy")
        rows.append(row)
    return rows


def plot(rows, path, *, title="", peers=(), group=None, eligible=None, previous=(),
         previous_label="earlier front"):
    """Write the sweep's front plot to ``path`` (PNG): accuracy against estimated logic cells
    and against images per second, every point grey, each front highlighted and joined (and
    where a row has ``placed_lc``, the placed logic cells as a ring), the ``peers``
    (:class:`Peer`) at their published counts and marked so.

    ``rows`` are dicts with ``accuracy`` (a fraction), ``lc_estimate`` and ``images_per_s``;
    rows missing one of them are left out of that panel. ``group`` (a function of a row, such
    as its board) splits the rows into groups with a front each; ``eligible`` (a function of a
    row) says which rows may be on a front (all by default; the others are drawn as crosses).
    ``previous`` are an earlier front's rows (:func:`load_front`: ``group`` names the group they
    belong to), drawn dashed in their group's colour and labelled ``previous_label``, so that a
    front redrawn keeps the one it replaces beside it. Returns the matplotlib ``Figure``.
    """
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    group = group or (lambda row: None)
    eligible = eligible or (lambda row: True)
    groups = list(dict.fromkeys([*(group(r) for r in rows), *(r["group"] for r in previous)]))
    colours = ["tab:red", "tab:green", "tab:purple", "tab:orange", "tab:brown", "tab:olive"]
    fig = Figure(figsize=(12, 5), layout="constrained")
    panels = fig.subplots(1, 2)
    for ax, key, objective, label in (
            (panels[0], "lc_estimate", "min", "logic cells (estimate, LUT4 + carry)"),
            (panels[1], "images_per_s", "max", "images per second (at the target clock)")):
        shown = [r for r in rows if r.get(key) is not None and r.get("accuracy") is not None]
        for marker, label_, subset in (
                ("o", "sweep points", [r for r in shown if eligible(r)]),
                ("x", "does not fit the board", [r for r in shown if not eligible(r)])):
            if subset:
                ax.scatter([r[key] for r in subset], [100 * r["accuracy"] for r in subset],
                           s=14, marker=marker, color="0.7", label=label_)
        for number, name in enumerate(groups):
            pts = [(r[key], 100 * r["accuracy"]) for r in shown
                   if group(r) == name and eligible(r)]
            if not pts:
                continue
            on = sorted(pts[i] for i in front([(y, x) for x, y in pts], ("max", objective)))
            colour = colours[number % len(colours)]
            ax.plot(*zip(*on), "-o", color=colour, ms=5,
                    label="front" if name is None else f"front: {name}")
            placed = [(r["placed_lc"], 100 * r["accuracy"]) for r in shown
                      if key == "lc_estimate" and group(r) == name and r.get("placed_lc")]
            if placed:
                ax.scatter(*zip(*placed), s=30, facecolors="none", edgecolors=colour,
                           label="placed (nextpnr)" if name is None else f"placed: {name}")
        for number, name in enumerate(groups):
            old = sorted((r[key], 100 * r["accuracy"]) for r in previous
                         if r["group"] == name and r.get(key) is not None)
            if old:
                ax.plot(*zip(*old), "--s", color=colours[number % len(colours)], ms=4, mfc="none",
                        alpha=0.7, label=previous_label if name is None
                        else f"{previous_label}: {name}")
        if key == "lc_estimate":
            for p in peers:
                if p.accuracy is None:
                    ax.axvline(p.resources, ls=":", color="tab:blue")
                    ax.annotate(f"{p.name}: {p.resources:,} {p.unit}\n(no accuracy given)",
                                (p.resources, 0.9), xycoords=("data", "axes fraction"),
                                xytext=(3, 0), textcoords="offset points",
                                fontsize=7, color="tab:blue")
                    continue
                ax.scatter([p.resources], [p.accuracy], marker="^", color="tab:blue")
                ax.annotate(f"{p.name} ({p.unit}, published)", (p.resources, p.accuracy),
                            fontsize=7, xytext=(4, 4), textcoords="offset points")
            if peers:
                ax.scatter([], [], marker="^", color="tab:blue",
                           label="published (LUT6/gates: not iCE40 LUT4)")
        ax.set_xscale("log")
        low, high = ax.get_xlim()
        if high < 4 * low:  # less than a decade: a few evenly spaced ticks
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
        elif high < 1000 * low:  # 1, 2 and 5 of each decade where there are few decades
            ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1, 2, 5)))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.set_xlabel(label)
        ax.set_ylabel("test accuracy (%)")
        ax.grid(True, which="both", alpha=0.3)
        caveat = key == "lc_estimate" and peers
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="lower right", title_fontsize=7,
                      title=_PLOT_CAVEAT if caveat else None)
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=110)
    return fig
