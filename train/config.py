"""Every option of a training run, described once: the fields of :class:`TrainConfig`.

Each field carries its description and command-line form in its metadata (:func:`option`):
``lwc train``'s options are generated from it (:func:`lwc.cli`'s train parser), and so is the
option table of ``train/README.md`` (:func:`option_table`; ``tests/train/test_config.py`` checks
that the file holds the table as generated). Importing this module imports neither torch nor
anything but :mod:`lwc.data` (NumPy), so ``lwc --help`` stays fast.
"""

import math
import os
from dataclasses import dataclass, field, fields

from lwc.data import DATASETS, IMAGE_DATASETS, load_dataset
from lwc.data.tabular import BALANCE_METHODS
from lwc.errors import UsageError

__all__ = ["TrainConfig", "METHODS", "DROPNEURON_DEFAULT", "QUANTIZERS", "SELECT_METRICS",
           "PRECISIONS", "DROPOUT_MODES", "ENCODINGS", "DEFAULT_LEVELS", "PATH_SAMPLING",
           "STE_SHAPES", "option", "flag",
           "help_text", "default_text", "OPTION_GROUPS", "option_table", "TABLE_MARKERS",
           "with_option_table"]

#: Training methods (:mod:`lwc.train.methods`).
METHODS = ("lwn", "ste", "dropneuron", "prune", "distribution", "sample", "paths")
#: Group-lasso strength of ``method="dropneuron"`` when ``dropneuron`` is not given. The right
#: strength depends on the data: on digits 5e-5 costs nothing (98.0%, 28 of 256 neurons and 19
#: of 64 inputs dropped); on MNIST (784 inputs, 10 epochs) 5e-5 cost 7 points (89.6%), 1e-5 about
#: one (95.3%, 135 of 256 neurons and 303 of 784 inputs dropped).
DROPNEURON_DEFAULT = 5e-5
#: Quantizers :func:`lwc.train.inputs.fit_input_spec` can fit to continuous features.
QUANTIZERS = ("affine", "quantile")
#: Input encodings (``TrainConfig.input_encoding``, :mod:`lwc.train.encoding`); ``uniform`` is
#: the host's quantizer and no encoder in the net.
ENCODINGS = ("uniform", "thermometer", "distributive", "learned")
#: Bits per input of an encoding other than ``uniform`` when ``levels`` is not given.
DEFAULT_LEVELS = 3
#: Validation metrics that decisions (rounding, model selection) can use.
SELECT_METRICS = ("accuracy", "f1", "g_mean")
#: Arithmetic of the training steps (``TrainConfig.precision``).
PRECISIONS = ("fp32", "bf16")
#: Forms of hidden-layer dropout (``TrainConfig.dropout_mode``, :mod:`lwc.train.dropout`).
DROPOUT_MODES = ("partition", "plain")
#: How ``--method paths`` chooses its connections (``TrainConfig.path_sampling``,
#: :mod:`lwc.train.paths`).
PATH_SAMPLING = ("uniform", "magnitude")
#: Shapes of the binary step's straight-through gradient (``TrainConfig.ste_shape``).
STE_SHAPES = ("box", "triangle")
#: Option groups, in the order ``lwc train --help`` and the README table show them.
OPTION_GROUPS = ("data", "network", "training", "method options (see lwc.train.methods)")


def option(default, help, *, kind=None, choices=None, metavar=None, group="training",
           flag=None, most=None, aliases=(), added=False):
    """A :class:`TrainConfig` field with its description.

    ``help`` is the one description of the option (CLI help, README table); ``kind`` names how
    the command line parses it (``int``, ``float``, ``positive_int``, ``positive_float``,
    ``fraction``, ``sizes``, ``seed``, ``names``, ``bool``; default ``str``), ``most`` its
    largest value there; ``choices`` are checked by :meth:`TrainConfig.check` (one error line)
    and listed in the help; ``flag`` is the option's name on the command line (default ``--``
    and the field name with ``-`` for ``_``); ``aliases`` are former names, still accepted but
    not shown. ``added`` marks an option added after ``lwc sweep`` began hashing points, whose
    default trains what the nets before it trained: a sweep point's hash leaves it out while it
    has its default (:func:`lwc.sweep.point_hash`), so adding an option does not retrain every
    finished sweep. Such a default must never change.
    """
    metadata = {"help": help, "kind": kind, "choices": choices, "metavar": metavar,
                "group": group, "flag": flag, "most": most, "aliases": tuple(aliases),
                "added": added}
    return field(default=default, metadata=metadata)


def flag(f):
    """The command-line option of the :class:`TrainConfig` field ``f``."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def help_text(f):
    """The help of the field ``f``, with its choices where the text does not name them all."""
    text, choices = f.metadata["help"], f.metadata["choices"]
    if choices and not all(c in text for c in choices):
        text += "; one of " + ", ".join(choices)
    return text


def default_text(f):
    """The default of the field ``f`` as the help shows it (``-``: none, or chosen by the run)."""
    if f.default is None or f.default == ():
        return "-"
    if isinstance(f.default, tuple):
        return ",".join(str(v) for v in f.default)
    if isinstance(f.default, bool):
        return "on" if f.default else "off"
    return str(f.default)


def option_table():
    """The Markdown table of every option (``train/README.md`` holds it as generated)."""
    lines = []
    for group in OPTION_GROUPS:
        lines += [f"**{group}**", "", "| option | default | meaning |", "|---|---|---|"]
        for f in fields(TrainConfig):
            if f.metadata["group"] != group:
                continue
            name = flag(f)
            if f.metadata["kind"] == "bool":
                name = f"{name} / --no-{name[2:]}"
            elif f.metadata["metavar"]:
                name = f"{name} {f.metadata['metavar']}"
            text = help_text(f).replace("|", "\\|")
            lines.append(f"| `{name}` | {default_text(f)} | {text} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


#: The lines of ``train/README.md`` between which :func:`option_table` stands.
TABLE_MARKERS = ("<!-- options: generated by `python -m lwc.train.config --write train/README.md`"
                 " -->", "<!-- end of options -->")


def with_option_table(text):
    """``text`` (a README) with the part between :data:`TABLE_MARKERS` set to
    :func:`option_table`."""
    start, end = TABLE_MARKERS
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{option_table()}{end}{tail}"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (with the machine, for bit-reproducibility).

    One field per option; what each means is its ``help`` metadata (:func:`option`), shown by
    ``lwc train --help`` and in ``train/README.md``'s option table. A field given as ``None``
    takes its default (so argparse options left out can be passed straight through). The
    defaults are tuned for ``digits``: one hidden layer of 256, 80% zero weights, about 97% test
    accuracy of the integer net in a few seconds on one core.
    """

    method: str = option("lwn", "training method (lwn: Lightweight Neural Networks); see "
                         "lwc.train.methods and the table below",
                         choices=METHODS, group="network")
    dataset: str | None = option(
        None, "dataset: digits (bundled; the default), mnist and fashion-mnist (read from "
        "--data-dir), breast-cancer (bundled), csv (the default with --csv)", choices=DATASETS,
        group="data")
    data_dir: str | None = option(None, "folder of the four IDX .gz files (mnist, "
                                  "fashion-mnist); nothing is ever downloaded", metavar="DIR",
                                  group="data")
    csv: str | None = option(None, "train on a CSV file (header row; needs --label)",
                             metavar="FILE", group="data")
    label: str | None = option(None, "the CSV's class column", metavar="COLUMN", group="data")
    categorical: tuple[str, ...] = option((), "CSV columns treated as categorical even if "
                                          "numeric", kind="names", metavar="A,B", group="data")
    ignore: tuple[str, ...] = option((), "CSV columns left out", kind="names", metavar="A,B",
                                     group="data")
    balance: str = option("none", "class balancing: how the training split is resampled so "
                          "every class has as many samples (lwc.data.tabular.balance; not "
                          "--equal-fan-in)", choices=BALANCE_METHODS, group="data")
    quantizer: str = option("affine", "input quantizer of tabular data: affine (standardised, "
                            "clipped at +-clip standard deviations, equal steps) or quantile "
                            "(training-split quantiles)", choices=QUANTIZERS, group="data")
    clip: float = option(2.5, "affine quantizer range in standard deviations",
                         kind="positive_float", group="data")
    input_bits: int | None = option(None, "bits per input feature (1..8); default: the "
                                    "dataset's (digits 4, mnist 1, tabular 4)",
                                    kind="positive_int", group="data")
    input_encoding: str = option(
        "uniform", "image data: uniform (the host quantizes each pixel to --input-bits; no "
        "encoder in the design) or an encoder that is the net's first layer over the raw pixels "
        "(the host sends them as they are), --levels comparators per pixel counted in the "
        "design's LUTs: thermometer (evenly spaced cuts), distributive (cuts at each pixel's "
        "training quantiles, as DWN) or learned (per-pixel cuts trained from the distributive "
        "ones); see lwc.train.encoding", choices=ENCODINGS, group="data", added=True)
    levels: int | None = option(None, f"bits (cuts) per pixel of --input-encoding other than "
                                f"uniform (default {DEFAULT_LEVELS})", kind="positive_int",
                                most=255, group="data", added=True)
    cut_bits: int | None = option(None, "the most significant bits of a pixel that the "
                                  "encoder's cuts compare (cuts rounded up to multiples of "
                                  "2^(input bits - B)); default all", kind="positive_int",
                                  metavar="B", most=8, group="data", added=True)
    augment: int = option(0, "image data: every training sample is shifted by a random whole "
                          "number of pixels, up to this many in each direction (rows and columns "
                          "independently, zero filling in); validation and test are never "
                          "shifted", kind="int", metavar="PIXELS", group="data")
    test_fraction: float | None = option(None, "share of all samples held out for testing "
                                         "(default 0.25; mnist: the official test split)",
                                         kind="float", group="data")
    val_fraction: float = option(0.1, "share of the non-test samples held out for decisions",
                                 kind="float", group="data")
    split_seed: int | None = option(None, "seed of the data split (default: --seed)",
                                    kind="seed", group="data")
    select: str = option("accuracy", "validation metric for decisions (rounding, model "
                         "selection): accuracy, f1 (macro) or g_mean", choices=SELECT_METRICS,
                         group="training")
    hidden: tuple[int, ...] = option((256,), "hidden layer sizes, e.g. 64 or 128,64",
                                     kind="sizes", group="network")
    sparsity: float = option(
        0.8, "target share of zero weights in every layer, in [0, 1): ste/dropneuron the exact "
        "share (quantile cut); lwn the share of each layer's weights that round to 0; "
        "distribution the prior's P(0); prune: not used; sample: at least this share unless "
        "--samples is given; paths: sets the fan-in unless --fan-in is given",
        kind="fraction", group="network")
    output_sparsity: float | None = option(
        None, "sparsity of the output layer (default: --sparsity); a denser one costs few "
        "weights and buys accuracy (MNIST 784-256-10, ste: 96.60% with 90% zeros in both "
        "layers, 97.55% with 92% in the hidden layer and 50% in the output layer)",
        kind="fraction", group="network")
    balanced: bool = option(False, "ste/dropneuron: equal fan-in, every neuron of a layer "
                            "keeps the same number of inputs (its weights are cut at their own "
                            "quantile; one cut per layer lets neurons with only small weights "
                            "die); not class balancing (--balance); formerly --balanced",
                            kind="bool", group="network", flag="--equal-fan-in",
                            aliases=("--balanced",))
    max_fan_in: tuple[int, ...] = option(
        (), "ste/dropneuron: the most nonzero weights a neuron keeps (its largest after the "
        "sparsity cut), K for every hidden layer or one per layer, e.g. 4 or 6,4 (hidden "
        "layers, then optionally the output layer); neurons of few input bits are built as "
        "truth tables (lwc compile --tables)", kind="sizes", metavar="K", group="network",
        added=True)
    epochs: int = option(40, "training epochs: passes over the training split",
                         kind="positive_int", metavar="N")
    batch_size: int = option(64, "mini-batch size (samples per optimizer step)",
                             kind="positive_int", metavar="N")
    lr: float = option(0.01, "learning rate of Adam, with a cosine decay to 0 over the epochs",
                       kind="positive_float", metavar="RATE")
    seed: int = option(0, "seeds torch, NumPy and (unless --split-seed) the data split; the same "
                       "seed on the same machine gives the same net", kind="seed", metavar="N")
    device: str = option("auto", "auto (CUDA if available, else CPU), cpu, cuda, cuda:1, ...")
    threads: int = option(1, "CPU threads torch may use during the run (restored afterwards); "
                          "1 is fastest for small layers and on a shared machine",
                          kind="positive_int", most=256)
    recalibrate: bool = option(True, "after every epoch, set batch-norm statistics to the exact "
                               "training-set statistics of the sums (earlier layers as "
                               "exported) before validating", kind="bool")
    precision: str = option(
        "fp32", "arithmetic of the training steps: fp32, or bf16 (the mini-batch matrix products "
        "in bfloat16, AMX/AVX-512-BF16 on recent x86 CPUs, and the fused Adam kernel; weights, "
        "optimizer state, validation and export stay float32 / exact integers)",
        choices=PRECISIONS)
    dropout: int | None = option(
        None, "dropout of hidden neurons while training, any method: P >= 2 partitions, 1/P of "
        "every hidden layer's outputs dropped at each step and the rest scaled by P/(P-1); off "
        "by default; the exported net has no dropout", kind="positive_int", metavar="P", added=True)
    dropout_mode: str = option(
        "partition", "how --dropout draws: partition (the slides' dropout partitions: every "
        "neuron gets partition floor(xi*P) once per P steps, step t drops partition t, one mask "
        "per batch; n random numbers per P steps) or plain (a random number per sample and "
        "neuron, dropped below 1/P; batch*n per step)", choices=DROPOUT_MODES, added=True)
    ste_window: float = option(1.0, "the binary step passes gradients where the batch-normalised "
                               "sum is within this window; 2..3 helps nets of 4 and more hidden "
                               "layers", kind="float", group=OPTION_GROUPS[3])
    ste_shape: str = option(
        "box", "shape of the binary step's straight-through gradient within --ste-window: box "
        "(1 inside, 0 outside) or triangle (1 at the threshold, falling to 0 at the window's "
        "edge); --ste-shape triangle --ste-window 3 trains nets of 8 and 16 hidden layers "
        "(train/README.md, 'Deep nets')", choices=STE_SHAPES, group=OPTION_GROUPS[3], added=True)
    dropneuron: float | None = option(
        None, "DropNeuron group-lasso strength, added to any method (default 0; "
        f"{DROPNEURON_DEFAULT:g} for --method dropneuron; about 1e-5 for 784-input data)",
        kind="float", metavar="STRENGTH", group=OPTION_GROUPS[3])
    finetune: float = option(0.15, "lwn, distribution, sample: share of the epochs spent tuning "
                             "only the thresholds of the final net", kind="float",
                             group=OPTION_GROUPS[3])
    sparsity_ramp: float = option(0.3, "ste/dropneuron: share of the epochs over which sparsity "
                                  "ramps up from half the target to the target; the best epoch "
                                  "is chosen among those at the full target", kind="float",
                                  group=OPTION_GROUPS[3])
    lwn_float: float = option(0.1, "lwn: share of epochs of float pre-training", kind="float",
                              group=OPTION_GROUPS[3])
    lwn_noise: float = option(1.0, "lwn: share of the free weights rounded (straight-through) in "
                              "each forward pass while discretizing", kind="float",
                              group=OPTION_GROUPS[3])
    lwn_pull: float = option(0.5, "lwn: largest share of the distance to the nearest discrete "
                             "value closed per epoch", kind="float", group=OPTION_GROUPS[3])
    lwn_radius: float = option(0.2, "lwn: largest black-hole radius (the discrete values are 1 "
                               "apart)", kind="float", group=OPTION_GROUPS[3])
    lwn_round_at: float = option(0.02, "lwn: share of free weights at which all are rounded",
                                 kind="float", group=OPTION_GROUPS[3])
    lwn_tolerance: float = option(0.01, "lwn: largest drop of the validation metric a rounding "
                                  "may cause and be kept", kind="float", group=OPTION_GROUPS[3])
    prune_quality: float = option(1.2, "prune: weights below this times their layer's standard "
                                  "deviation (at the first round) are pruned", kind="float",
                                  group=OPTION_GROUPS[3])
    prune_rounds: int = option(3, "prune: pruning rounds", kind="int", group=OPTION_GROUPS[3])
    distribution_prior: float = option(0.6, "distribution: strength of the pull of every "
                                       "weight's distribution towards P(0) = sparsity (mean KL "
                                       "divergence)", kind="float", group=OPTION_GROUPS[3])
    samples: int | None = option(None, "sample: samples per neuron (on average, for the output "
                                 "layer), which sets the sparsity instead of --sparsity; fewer "
                                 "are taken where a weight would exceed 127",
                                 kind="positive_int", metavar="N", group=OPTION_GROUPS[3])
    fan_in: tuple[int, ...] = option(
        (), "paths: weights per neuron, one for every layer or one per layer (hidden layers, "
        "then output); default round((1 - sparsity) * inputs of the layer) (the output layer: "
        "at most 50% zeros unless --output-sparsity), raised where a layer "
        "would not reach every neuron of the hidden layer below (fan-in * neurons >= neurons "
        "below, which a given fan-in must meet)",
        kind="sizes", metavar="K", group=OPTION_GROUPS[3], added=True)
    path_sampling: str = option(
        "uniform", "paths: how the paths are sampled: uniform (stratified: every neuron on a "
        "path) or magnitude (importance-sampled by |w| of a one-epoch dense pre-pass)",
        choices=PATH_SAMPLING, group=OPTION_GROUPS[3], added=True)
    sample_penalty: float = option(8.0, "sample: strength of the Hoyer sparsity regulariser "
                                   "during real-valued training", kind="float",
                                   metavar="STRENGTH", group=OPTION_GROUPS[3])

    def __post_init__(self):
        # Accept what argparse gives: None for "not given" (the default; only fields whose
        # default is not None), lists and paths (stored as what JSON and provenance can hold).
        if self.dataset is None:
            object.__setattr__(self, "dataset", "digits" if self.csv is None else "csv")
        for f in fields(self):
            if getattr(self, f.name) is None and f.default is not None:
                object.__setattr__(self, f.name, f.default)
        for name in ("hidden", "categorical", "ignore", "max_fan_in", "fan_in"):
            value = getattr(self, name)
            if isinstance(value, int):
                value = (value,)
            if isinstance(value, str):
                value = tuple(v.strip() for v in value.split(",") if v.strip())
            if not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
            else:
                object.__setattr__(self, name, value)
        for name in ("data_dir", "csv"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                object.__setattr__(self, name, os.fspath(value))

    def check(self):
        """Raise :class:`~lwc.errors.UsageError` for an out-of-range option."""
        def bad(name, must):
            raise UsageError(f"{name} must be {must}, not {getattr(self, name)!r}")

        def share(name, lo_open=False, hi_open=False):
            v = getattr(self, name)
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and (
                (0 < v if lo_open else 0 <= v) and (v < 1 if hi_open else v <= 1))
            if not ok:
                bad(name, f"in {'(' if lo_open else '['}0, 1{')' if hi_open else ']'}")

        if self.method not in METHODS:
            bad("method", "one of " + ", ".join(METHODS))
        if self.dataset not in DATASETS:
            bad("dataset", "one of " + ", ".join(DATASETS))
        if (self.dataset == "csv") != (self.csv is not None):
            raise UsageError("a CSV file (csv=, --csv FILE) goes with dataset 'csv' and only "
                             "with it" if self.csv is not None else
                             "dataset 'csv' needs a CSV file (csv=, --csv FILE)")
        if self.csv is not None and not self.label:
            raise UsageError("a CSV file needs its label column (label=, --label COLUMN)")
        if self.balance not in BALANCE_METHODS:
            bad("balance", "one of " + ", ".join(BALANCE_METHODS))
        if self.quantizer not in QUANTIZERS:
            bad("quantizer", "one of " + ", ".join(QUANTIZERS))
        if not (isinstance(self.clip, (int, float)) and 0 < self.clip < math.inf):
            bad("clip", "a positive number")
        if self.select not in SELECT_METRICS:
            bad("select", "one of " + ", ".join(SELECT_METRICS))
        if not self.hidden or not all(isinstance(h, int) and h >= 1 for h in self.hidden):
            bad("hidden", "one or more positive layer sizes")
        share("sparsity", hi_open=True)
        if self.output_sparsity is not None:
            share("output_sparsity", hi_open=True)
        if self.input_encoding not in ENCODINGS:
            bad("input_encoding", "one of " + ", ".join(ENCODINGS))
        if self.input_encoding == "uniform":
            if self.levels is not None or self.cut_bits is not None:
                raise UsageError(f"{'levels' if self.levels is not None else 'cut_bits'} is an "
                                 "option of the input encodings other than 'uniform'")
        else:
            if self.levels is not None and not (isinstance(self.levels, int)
                                                and not isinstance(self.levels, bool)
                                                and 1 <= self.levels <= 255):
                bad("levels", "an integer 1..255")
            if self.cut_bits is not None and not (isinstance(self.cut_bits, int)
                                                  and not isinstance(self.cut_bits, bool)
                                                  and 1 <= self.cut_bits <= 8):
                bad("cut_bits", "an integer 1..8")
            if self.dataset not in IMAGE_DATASETS:
                raise UsageError(f"input encoding {self.input_encoding!r} is for image data "
                                 f"({', '.join(IMAGE_DATASETS)}), not {self.dataset!r}")
            if self.input_bits is not None:
                raise UsageError(f"input encoding {self.input_encoding!r} reads the raw pixels; "
                                 "input_bits is for 'uniform'")
            if self.method == "paths":
                raise UsageError(f"input encoding {self.input_encoding!r} is not available "
                                 "with method 'paths'")
        if not (isinstance(self.augment, int) and not isinstance(self.augment, bool)
                and 0 <= self.augment <= 8):
            bad("augment", "an integer 0..8 (pixels)")
        if not (isinstance(self.epochs, int) and self.epochs >= 1):
            bad("epochs", "a positive integer")
        if not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            bad("batch_size", "a positive integer")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            bad("lr", "a positive number")
        if not (isinstance(self.seed, int) and self.seed >= 0):
            bad("seed", "a non-negative integer")
        if self.input_bits is not None and not (
                isinstance(self.input_bits, int) and 1 <= self.input_bits <= 8):
            bad("input_bits", "an integer 1..8")
        if not (isinstance(self.threads, int) and self.threads >= 1):
            bad("threads", "a positive integer")
        if self.precision not in PRECISIONS:
            bad("precision", "one of " + ", ".join(PRECISIONS))
        if not (self.ste_window > 0 and math.isfinite(self.ste_window)):
            bad("ste_window", "a positive number")
        if self.ste_shape not in STE_SHAPES:
            bad("ste_shape", "one of " + ", ".join(STE_SHAPES))
        if self.dropneuron is not None and not (
                self.dropneuron >= 0 and math.isfinite(self.dropneuron)):
            bad("dropneuron", "a non-negative number")
        for name in ("finetune", "lwn_float", "lwn_noise", "lwn_pull", "lwn_round_at",
                     "lwn_tolerance", "sparsity_ramp"):
            share(name, hi_open=name in ("finetune", "lwn_pull"))
        if not 0 < self.lwn_radius <= 0.5:
            bad("lwn_radius", "in (0, 0.5]")
        if not (self.prune_quality > 0 and math.isfinite(self.prune_quality)):
            bad("prune_quality", "a positive number")
        if not (isinstance(self.prune_rounds, int) and self.prune_rounds >= 1):
            bad("prune_rounds", "a positive integer")
        if not (self.distribution_prior >= 0 and math.isfinite(self.distribution_prior)):
            bad("distribution_prior", "a non-negative number")
        if self.samples is not None and not (
                isinstance(self.samples, int) and not isinstance(self.samples, bool)
                and self.samples >= 1):
            bad("samples", "a positive integer")
        if not (self.sample_penalty >= 0 and math.isfinite(self.sample_penalty)):
            bad("sample_penalty", "a non-negative number")
        if self.max_fan_in:
            if not (len(self.max_fan_in) <= len(self.hidden) + 1 and all(
                    isinstance(k, int) and not isinstance(k, bool) and k >= 1
                    for k in self.max_fan_in)):
                bad("max_fan_in", f"one positive limit, or one per layer ({len(self.hidden)} "
                    f"hidden, then optionally the output)")
            if self.method not in ("ste", "dropneuron"):
                raise UsageError(f"max_fan_in is an option of methods 'ste' and 'dropneuron', "
                                 f"not {self.method!r}")
        if self.dropout is not None and not (
                isinstance(self.dropout, int) and not isinstance(self.dropout, bool)
                and self.dropout >= 2):
            bad("dropout", "an integer number of partitions, 2 or more")
        if self.dropout_mode not in DROPOUT_MODES:
            bad("dropout_mode", "one of " + ", ".join(DROPOUT_MODES))
        if not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1
                   for k in self.fan_in):
            bad("fan_in", "positive weights per neuron")
        if self.path_sampling not in PATH_SAMPLING:
            bad("path_sampling", "one of " + ", ".join(PATH_SAMPLING))
        if self.method != "paths" and (self.fan_in or self.path_sampling != "uniform"):
            raise UsageError(f"fan_in and path_sampling are options of method 'paths', not "
                             f"{self.method!r}")
        if self.balanced and self.method not in ("ste", "dropneuron"):
            raise UsageError(f"balanced is an option of methods 'ste' and 'dropneuron', not "
                             f"{self.method!r}")
        if self.samples is not None and self.method != "sample":
            raise UsageError(f"samples is an option of method 'sample', not {self.method!r}")
        return self

    def load_data(self):
        """The :class:`lwc.data.Dataset` this config trains on: read, checked and split (by
        ``split_seed``, else ``seed``) with :func:`lwc.data.load_dataset`. NumPy only, so that bad
        data is refused before torch is imported (``lwc train``)."""
        return load_dataset(
            self.dataset, seed=self.seed if self.split_seed is None else self.split_seed,
            test_fraction=self.test_fraction, val_fraction=self.val_fraction,
            data_dir=self.data_dir, csv_path=self.csv, csv_label=self.label,
            csv_categorical=self.categorical or None, csv_ignore=self.ignore or None)

    def layer_sparsity(self):
        """The target share of zero weights of every layer, hidden layers then output."""
        out = self.sparsity if self.output_sparsity is None else self.output_sparsity
        return (float(self.sparsity),) * len(self.hidden) + (float(out),)

    def layer_fan_in(self):
        """The most nonzero weights of a neuron of every layer, hidden layers then output
        (``None`` for no limit): one ``max_fan_in`` is every hidden layer's."""
        limits = self.max_fan_in
        if len(limits) == 1:
            limits = limits * len(self.hidden)
        return tuple(int(k) for k in limits) + (None,) * (len(self.hidden) + 1 - len(limits))

    @property
    def encoding_levels(self):
        """Bits per pixel of the input encoding (``None`` for ``uniform``)."""
        if self.input_encoding == "uniform":
            return None
        return DEFAULT_LEVELS if self.levels is None else int(self.levels)

    @property
    def group_lasso(self):
        """The group-lasso strength this run uses."""
        if self.dropneuron is not None:
            return float(self.dropneuron)
        return DROPNEURON_DEFAULT if self.method == "dropneuron" else 0.0


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--write"]:
        with open(sys.argv[2]) as f:
            updated = with_option_table(f.read())
        with open(sys.argv[2], "w") as f:
            f.write(updated)
    else:
        sys.stdout.write(option_table())
