"""The ``lwc`` command: thin glue over the library (``lwc.train``, ``lwc.compiler``, ``lwc.sim``,
``lwc.boards``). Every user error prints one line and exits non-zero, without a traceback."""

import argparse
import os
import sys
import time

from . import __version__
from .errors import LwcError, UsageError

__all__ = ["main"]


def _say(*args):
    print(*args, flush=True)


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, not {text}")
        return value
    return parse


def _sizes(text):
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated integers like 64,32, not {text!r}") from None
    if not sizes or any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError(f"must be positive sizes like 64,32, not {text!r}")
    return sizes


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), not {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), not {text}")
    return value


def _load_net(path):
    from .compiler import netfile

    return netfile.load(path)


# --- lwc train -----------------------------------------------------------------------------------

def _cmd_train(args):
    from .train import TrainConfig, train_to_file

    config = TrainConfig(
        dataset=args.dataset, data_dir=args.data_dir, hidden=args.hidden,
        sparsity=args.sparsity, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        seed=args.seed, input_bits=args.input_bits, device=args.device, threads=args.threads,
    )
    result = train_to_file(config, args.output, plots=not args.no_plots, progress=_say)
    _say(f"wrote {args.output}: test accuracy {100 * result.test_accuracy:.2f}% "
         f"(integer net, golden model), {100 * result.zero_fraction:.1f}% zero weights, "
         f"trained in {result.seconds:.1f} s")


def _add_train(sub):
    p = sub.add_parser("train", help="train a sparse ternary network and export net.pt")
    p.add_argument("--dataset", default="digits", help="digits, mnist or fashion-mnist")
    p.add_argument("--data-dir", default=None, help="folder with the IDX files (mnist, fashion)")
    p.add_argument("-o", "--output", default="net.pt", help="output file (default net.pt)")
    p.add_argument("--hidden", type=_sizes, default=None, help="hidden sizes, e.g. 64 or 128,64")
    p.add_argument("--sparsity", type=_fraction, default=None, help="target zero-weight fraction")
    p.add_argument("--epochs", type=_positive(int), default=None)
    p.add_argument("--batch-size", type=_positive(int), default=None)
    p.add_argument("--lr", type=_positive(float), default=None)
    p.add_argument("--input-bits", type=_positive(int), default=None, help="bits per input")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--threads", type=_positive(int), default=None,
                   help="torch CPU threads (default 1: fastest for small nets)")
    p.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    p.set_defaults(func=_cmd_train)


# --- lwc inspect ---------------------------------------------------------------------------------

def _cmd_inspect(args):
    from .compiler import dump, passes
    from .compiler.stats import format_stats

    net = _load_net(args.net)
    sys.stdout.write(format_stats(net, args.net))
    if args.ir:
        sys.stdout.write("\n" + dump(passes.run(net)))


def _add_inspect(sub):
    p = sub.add_parser("inspect", help="show layers, sparsity, fan-in and dead neurons of net.pt")
    p.add_argument("net")
    p.add_argument("--ir", action="store_true", help="also print the compiled IR")
    p.set_defaults(func=_cmd_inspect)


# --- lwc compile ---------------------------------------------------------------------------------

def _cmd_compile(args):
    from .boards.compile import compile_net

    net = _load_net(args.net)
    out = args.output or os.path.join(
        "build", os.path.splitext(os.path.basename(args.net))[0] + "-" + (
            args.board or args.target))
    result = compile_net(net, out, target=args.target, board=args.board, clock_mhz=args.fmax,
                         seed=args.seed, baud=args.baud, register_every=args.register_every,
                         progress=_say)
    _say("")
    _say(result.table())


def _add_compile(sub):
    from .boards.compile import TARGETS
    from .boards.registry import BOARDS

    p = sub.add_parser("compile", help="compile net.pt to Verilog or to an FPGA bitstream")
    p.add_argument("net")
    p.add_argument("--target", default="ice40", choices=TARGETS)
    p.add_argument("--board", default=None, help=f"board ({', '.join(BOARDS)}); default for "
                   "ice40: icebreaker")
    p.add_argument("-o", "--output", default=None, help="output directory "
                   "(default build/<net>-<board>)")
    p.add_argument("--fmax", type=_positive(float), default=None,
                   help="timing target in MHz (default: the board clock)")
    p.add_argument("--register-every", type=_positive(int), default=None,
                   help="pipeline register every N adder-tree levels (default: one per layer)")
    p.add_argument("--baud", type=_positive(int), default=115200, help="UART line rate")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    p.set_defaults(func=_cmd_compile)


# --- lwc flash -----------------------------------------------------------------------------------

def _cmd_flash(args):
    from .boards.flash import flash
    from .boards.registry import get_board

    flash(args.dir, get_board(args.board), progress=_say)


def _add_flash(sub):
    p = sub.add_parser("flash", help="program a bitstream built by 'lwc compile' onto a board")
    p.add_argument("dir", help="the build directory of 'lwc compile'")
    p.add_argument("--board", default="icebreaker")
    p.set_defaults(func=_cmd_flash)


# --- entry point ---------------------------------------------------------------------------------

_COMMANDS = [_add_train, _add_inspect, _add_compile, _add_flash]


def build_parser():
    parser = argparse.ArgumentParser(
        prog="lwc", description="Compile trained sparse ternary neural networks into FPGA gateware.")
    parser.add_argument("--version", action="version", version=f"lwc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in _COMMANDS:
        add(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        args.func(args)
    except LwcError as exc:
        print(f"lwc: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lwc: interrupted", file=sys.stderr)
        return 130
    if os.environ.get("LWC_TIMING"):
        print(f"lwc {args.command}: {time.monotonic() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
