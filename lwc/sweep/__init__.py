"""``lwc sweep``: design-space exploration. Many points (training options x compile options) run
train -> compiler passes -> resource estimate, on Ray or one after another; the points on the
accuracy-versus-hardware front then go through place-and-route (``place``) and the cocotb proof
(``prove``) if asked::

    from lwc.sweep import load_spec, run_sweep
    result = run_sweep(load_spec("examples/sweep_digits.toml"), "build/sweep")
    print(result.table())

The spec (TOML, :func:`load_spec`) names the dataset and the points::

    name = "digits"                 # optional
    dataset = "digits"              # any lwc train dataset
    data_dir = "data/mnist"         # mnist / fashion-mnist (relative to the spec file)
    front = ["accuracy", "logic_cells"]  # what the front weighs (default: also block_ram
                                    # and images_per_s); each board has its own front

    [fixed]                         # options every point shares
    epochs = 5
    board = "icebreaker"

    [grid]                          # every combination of these lists ([[grid]]: several grids)
    hidden = [16, 32, [32, 16]]
    sparsity = [0.8, 0.9]

    [[points]]                      # and single points
    hidden = 64
    architecture = "streaming"

An option is a field of :class:`lwc.train.TrainConfig` (``lwc train``'s options: ``hidden``,
``sparsity``, ``output_sparsity``, ``input_bits``, ``method``, ``epochs``, ``seed``, ...) or a
compile option (:data:`COMPILE_OPTIONS`: ``board``, ``architecture``, ``lanes``,
``features_per_cycle``, ``fmax``, ``register_every``, ``share``, ``tables``, ``weights``, ``tail``,
``place_seed``). The spec's names and types are checked when it is read (one line naming the
file and the key); each point's values are checked when it runs, so a point out of range fails
alone, with the one-line error ``lwc train`` or ``lwc compile`` would print, and the others go
on.

What the output directory holds: ``points/<hash>/result.json`` (one point: its options and every
figure; ``placed.json`` and ``proof.json`` next to it once placed or proven), ``nets/<hash>/``
(``net.pt`` and ``train.json`` of each training, shared by the points that differ only in compile
options), ``results.csv`` and ``results.json`` (one row per point), ``pareto.png``. Every file is
written whole (a temporary file, then :func:`os.replace`), so an interrupted sweep leaves no
half-written file; the points are keyed by the hash of their options (:func:`point_hash`), and a
re-run skips what is done and resumes the rest.

Ray is imported only by the Ray backend (``pip install -e '.[sweep]'``); ``backend="serial"``
runs the same points one after another in this process.
"""

from ._backends import RAY_MISSING
from ._run import BACKENDS, FIGURES, PLACE_CHOICES, SweepResult, front_rows, run_sweep
from ._spec import (
    COMPILE_OPTIONS,
    DEFAULT_FRONT,
    FRONT_FIGURES,
    SweepPoint,
    SweepSpec,
    SweepSpecError,
    load_spec,
    parse_spec,
    point_hash,
)
from ._tasks import place_point, prove_point, run_group

__all__ = ["SweepSpec", "SweepPoint", "SweepResult", "SweepSpecError", "COMPILE_OPTIONS",
           "FRONT_FIGURES", "DEFAULT_FRONT",
           "FIGURES", "BACKENDS", "PLACE_CHOICES", "RAY_MISSING", "load_spec", "parse_spec",
           "point_hash", "run_sweep", "front_rows", "run_group", "place_point", "prove_point"]
