"""Write the transcripts in README.md from real runs of the commands they show.

Each transcript sits in README.md between ``<!-- transcript NAME -->`` and ``<!-- /transcript -->``
as a fenced block: the command (``$ lwc ...``), then what it printed, cut as :data:`TRANSCRIPTS`
says ("..." stands for the lines left out). The date of the last run sits between
``<!-- transcripts-date -->`` and ``<!-- /transcripts-date -->``. From the repository root::

    python docs/transcripts.py                 # run them all and rewrite README.md (~4 min)
    python docs/transcripts.py train inspect   # only these (the ones before them run too)
    python docs/transcripts.py --check         # compare only; exit 1 where the form differs

The commands run one after another in ``build/readme`` (out of git), as a user types them: the
demo, then training the demo's digits net, inspecting, simulating and compiling it. Paths below
that directory are printed relative to it. ``--check`` compares the *form* of each transcript
(:func:`shape`: every number replaced by ``#``) with README.md's; ``tests/test_readme.py`` does
the same for the cheap commands.
"""

import argparse
import dataclasses
import datetime
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
NET = "build/digits/net.pt"


@dataclasses.dataclass(frozen=True)
class Transcript:
    """A command of README.md and which of its output lines README shows: the first ``head``
    lines, then the lines from the first later one that matches ``tail_from`` (a regex) or the
    last ``tail`` lines; all of them when neither is given."""

    argv: tuple
    head: int = 0
    tail: int = 0
    tail_from: str | None = None

    def command(self):
        return "$ " + " ".join(self.argv)

    def cut(self, lines):
        """The lines README shows of the output ``lines``, with "..." where lines are left out."""
        if not self.head and not self.tail and self.tail_from is None:
            return list(lines)
        start = len(lines)
        if self.tail_from is not None:
            start = next((k for k in range(self.head, len(lines))
                          if re.match(self.tail_from, lines[k])), len(lines))
        elif self.tail:
            start = max(self.head, len(lines) - self.tail)
        kept = lines[:self.head]
        if start > self.head:
            kept.append("...")
        return kept + lines[start:]


# In the order they run (later ones use the net the train step writes).
TRANSCRIPTS = {
    "demo": Transcript(("lwc", "demo", "digits"), tail_from=r"== summary"),
    "train": Transcript(("lwc", "train", "--hidden", "64", "--sparsity", "0.87", "-o", NET),
                        head=3, tail=2),
    "inspect": Transcript(("lwc", "inspect", NET), head=11),
    "sim": Transcript(("lwc", "sim", NET), head=1, tail=3),
    "compile-verilog": Transcript(("lwc", "compile", NET, "--target", "verilog")),
    "compile-ice40": Transcript(("lwc", "compile", NET, "--target", "ice40"), head=1,
                                tail_from=r"network "),
}

_BLOCK = re.compile(r"(<!-- transcript (?P<name>[\w-]+) -->\n```\n)(?P<body>.*?)(```\n"
                    r"<!-- /transcript -->)", re.DOTALL)
_DATE = re.compile(r"(<!-- transcripts-date -->).*?(<!-- /transcripts-date -->)")
_NUMBER = re.compile(r"[-+]?\d[\d,]*(\.\d+)?")
# The net's fingerprint in a default build directory (build/digits-1f0e9a2c-verilog).
_FINGERPRINT = re.compile(r"(?<=-)[0-9a-f]{8}(?=-)")


def shape(lines):
    """``lines`` with every number (and every net fingerprint of a directory name) replaced by
    ``#`` and runs of blanks by one: the form of a transcript, which stays when a run gives
    other figures."""
    return [" ".join(_NUMBER.sub("#", _FINGERPRINT.sub("#", line)).split()) for line in lines]


def labels(lines):
    """The first column of each of ``lines`` (what stands before two or more blanks), in
    :func:`shape`: the row labels of a table such as the demo's summary."""
    return shape([re.split(r"\s{2,}", line.strip())[0] for line in lines])


def readme_transcripts(text=None):
    """``{name: lines}`` of every transcript in README.md (``text``), the command line first."""
    text = README.read_text() if text is None else text
    return {m["name"]: m["body"].rstrip("\n").split("\n") for m in _BLOCK.finditer(text)}


def run(name, cwd, env=None):
    """Run transcript ``name`` in ``cwd``; its README lines (the command line first)."""
    t = TRANSCRIPTS[name]
    done = subprocess.run([sys.executable, "-m", "lwc", *t.argv[1:]], cwd=cwd, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{t.command()} failed (exit {done.returncode}):\n"
                         f"{done.stdout[-3000:]}{done.stderr[-3000:]}")
    out = done.stdout.replace(f"{Path(cwd).resolve()}{os.sep}", "")
    return [t.command(), *t.cut(out.rstrip("\n").split("\n"))]


def rewrite(text, fresh, date):
    """README ``text`` with the transcripts ``fresh`` (``{name: lines}``) and ``date`` put in."""
    def block(m):
        lines = fresh.get(m["name"])
        return m.group(0) if lines is None else f"{m.group(1)}{chr(10).join(lines)}\n{m.group(4)}"

    text = _BLOCK.sub(block, text)
    return _DATE.sub(lambda m: f"{m.group(1)}{date}{m.group(2)}", text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"some of: {', '.join(TRANSCRIPTS)} (default: all)")
    parser.add_argument("--check", action="store_true",
                        help="compare the form with README.md's; write nothing")
    parser.add_argument("--dir", default=str(ROOT / "build" / "readme"),
                        help="where the commands run (default build/readme)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in TRANSCRIPTS]
    if unknown:
        parser.error(f"no transcript {unknown[0]!r} (choose from: {', '.join(TRANSCRIPTS)})")
    wanted = args.names or list(TRANSCRIPTS)
    last = max(list(TRANSCRIPTS).index(n) for n in wanted)
    os.makedirs(args.dir, exist_ok=True)
    text = README.read_text()
    shown = readme_transcripts(text)
    fresh, differ = {}, []
    for name in list(TRANSCRIPTS)[:last + 1]:
        print(f"running {TRANSCRIPTS[name].command()}", flush=True)
        lines = run(name, args.dir)
        if name not in wanted:
            continue
        fresh[name] = lines
        if shape(lines) != shape(shown.get(name, [])):
            differ.append(name)
    if args.check:
        for name in differ:
            print(f"README.md's transcript {name!r} differs in form from a fresh run:\n"
                  + "\n".join(fresh[name]))
        return 1 if differ else 0
    README.write_text(rewrite(text, fresh, datetime.date.today().isoformat()))
    print(f"README.md: {len(fresh)} transcript(s) written ({', '.join(differ) or 'none'} "
          "changed in form)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
