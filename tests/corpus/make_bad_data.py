"""A corpus of malformed and hostile training data (CSV files and IDX data directories), each with
the problem ``lwc train`` must name.

Run as a script to write the corpus::

    python tests/corpus/make_bad_data.py OUTDIR

or import it and call :func:`make_bad_data` (the tests do, into ``tmp_path``). For every case,
``lwc train`` with :attr:`BadData.argv` must exit 1 with one line on stderr that starts with
``lwc: error: {BadData.path}: `` and contains :attr:`BadData.expect`, print nothing on stdout,
write nothing, and stay in bounded memory; :attr:`BadData.blocks` marks the cases that would
wait forever if they were ever opened (FIFOs), which tests run only in a subprocess with a
timeout.

The kinds (issues 15 and 16): cells that break their column's type (a word in an integer column,
a typo in a float column, ``inf`` and ``-Infinity``, ``1e999``, a NUL byte), numbers whose
magnitude overflows the quantizer, control characters (ANSI escapes, newlines, bidirectional
controls) in labels, categories and column names, over-long labels, special files (``/dev/zero``,
a FIFO, a directory, a symlink to a device), files over the size limit (sparse, so they take no
disk), rows and fields over their limits, too many columns, text that is not UTF-8, and IDX files
with a count of 0, bad magic numbers, wrong dimensions, image and label counts that disagree,
truncated or trailing data, a header claiming terabytes, and the same special files.
"""

import gzip
import os
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lwc.data import IDX_FILES, IDX_MAX_BYTES
from lwc.data.tabular import LIMITS

__all__ = ["BadData", "make_bad_data", "CASES"]


@dataclass(frozen=True)
class BadData:
    """One case: the ``lwc train`` arguments that read it, the path its error names, the text
    the error must contain, and whether opening it would block."""

    name: str
    argv: tuple
    path: Path
    expect: str
    blocks: bool = False


# --- CSV -----------------------------------------------------------------------------------------

_ROWS = 200


def _csv_rows(seed=0):
    """``_ROWS`` rows of a valid table: ``digit`` 0..9, ``x`` a float, ``color`` a category,
    ``y`` the class (``yes``/``no``)."""
    rng = np.random.default_rng(seed)
    return [[str(rng.integers(0, 10)), f"{rng.normal():.4f}", ["red", "green", "blue"][k % 3],
             "yes" if k % 2 else "no"] for k in range(_ROWS)]


_HEADER = ["digit", "x", "color", "y"]


def _table(edit=None, header=None):
    """The valid table's text, after ``edit(rows)`` (which changes rows in place)."""
    def make(path):
        rows = _csv_rows()
        if edit is not None:
            edit(rows)
        lines = [",".join(header or _HEADER)] + [",".join(row) for row in rows]
        path.write_text("\n".join(lines) + "\n", newline="")
    return make


def _cell(row, col, text):
    def edit(rows):
        rows[row - 2][_HEADER.index(col)] = text  # row: the file line (the header is line 1)
    return edit


def _text(text):
    def make(path):
        path.write_text(text, newline="")
    return make


def _bytes(data):
    def make(path):
        path.write_bytes(data)
    return make


def _sparse(size):
    """A file of ``size`` zero bytes that takes no disk space."""
    def make(path):
        with open(path, "wb") as f:
            f.truncate(size)
    return make


def _fifo(path):
    os.mkfifo(path)


def _directory(path):
    path.mkdir()


def _symlink(target):
    def make(path):
        path.symlink_to(target)
    return make


def _long_row(path):
    wide = "9" * 1000
    path.write_text("a,y\n" + "1,no\n" * 3 + ",".join([wide] * (LIMITS["row"] // 1000)) + "\n")


def _wide_header(path):
    path.write_text(",".join(f"c{k}" for k in range(LIMITS["columns"] + 1)) + "\n" + "1," *
                    LIMITS["columns"] + "1\n")


_LABEL = ("--label", "y")

#: ``{name: (make(path), train arguments after --csv PATH, expected text)}``; ``None`` as make
#: uses the path given as the second entry instead of a file of the corpus.
CSV_CASES = {
    "int_column_word": (_table(_cell(58, "digit", "abc")), _LABEL,
                        "line 58: 'abc' in column 'digit' is not a number, though 199 of its "
                        "200 cells are numbers"),
    "float_column_typo": (_table(_cell(101, "x", "0.1.5")), _LABEL,
                          "line 101: '0.1.5' in column 'x' is not a number"),
    "float_column_comma_decimal": (_table(_cell(7, "x", '"0,25"')), _LABEL,
                                   "line 7: '0,25' in column 'x' is not a number"),
    "inf_string": (_table(_cell(5, "x", "inf")), _LABEL,
                   "line 5: 'inf' in column 'x' is not a finite number"),
    "minus_infinity_string": (_table(_cell(9, "digit", "-Infinity")), _LABEL,
                              "line 9: '-Infinity' in column 'digit' is not a finite number"),
    "overflowing_literal": (_table(_cell(12, "x", "1e999")), _LABEL,
                            "line 12: '1e999' in column 'x' is not a finite number"),
    "nul_in_number": (_table(_cell(30, "x", "0.5\x00")), _LABEL,
                      "line 30: column 'x' holds the control character '\\x00' in '0.5\\x00'"),
    "nul_in_category": (_table(_cell(4, "color", "re\x00d")), _LABEL,
                        "line 4: column 'color' holds the control character '\\x00'"),
    "magnitude_1e200": (_table(_cell(3, "x", "1e200")), _LABEL,
                        "line 3: column 'x' holds '1e200', larger in magnitude than the 1e+100"),
    "magnitude_negative_1e300": (_table(_cell(150, "digit", "-1e300")), _LABEL,
                                 "line 150: column 'digit' holds '-1e300'"),
    "label_ansi_escape": (_table(_cell(2, "y", "\x1b[31mred\x1b[0m")), _LABEL,
                          "line 2: the label in column 'y' holds the control character '\\x1b'"),
    "label_newline": (_table(_cell(6, "y", '"no\nweights 1"')), _LABEL,
                      "line 7: the label in column 'y' holds the control character '\\n'"),
    "label_carriage_return": (_table(_cell(8, "y", '"yes\rno"')), _LABEL,
                              "the label in column 'y' holds the control character '\\r'"),
    "label_bidi_override": (_table(_cell(10, "y", "yes\u202eon")), _LABEL,
                            "line 10: the label in column 'y' holds the control character "
                            "'\\u202e'"),
    "label_megabyte": (_table(_cell(11, "y", "L" * 300_000)), _LABEL,
                       "line 11: field larger than field limit"),
    "label_too_long": (_table(_cell(11, "y", "L" * 300)), _LABEL,
                       "line 11: the label in column 'y' has 300 characters, more than 256"),
    "category_ansi_escape": (_table(_cell(20, "color", "\x1b]0;pwned\x07")), _LABEL,
                             "line 20: column 'color' holds the control character '\\x1b'"),
    "header_escape": (_table(header=["digit", "x\x1b[2J", "color", "y"]), _LABEL,
                      "column 2 of the header holds the control character '\\x1b'"),
    "header_newline": (_table(header=["digit", '"x\ny"', "color", "y"]), _LABEL,
                       "column 2 of the header holds the control character '\\n'"),
    "missing_label": (_table(_cell(40, "y", "NA")), _LABEL,
                      "line 40: missing label in column 'y'"),
    "one_class": (_table(lambda rows: [r.__setitem__(3, "no") for r in rows]), _LABEL,
                  "holds only one class ('no')"),
    "ragged_row": (_table(lambda rows: rows[10].pop()), _LABEL,
                   "line 12 has 3 fields, the header has 4"),
    "empty_file": (_text(""), _LABEL, "empty file"),
    "blank_lines_only": (_text("\n\n  \n"), _LABEL, "empty file"),
    "header_only": (_text("digit,x,color,y\n"), _LABEL, "no data rows after the header"),
    "not_utf8": (_bytes(b"digit,x,y\n1,0.5,no\n2,\xff\xfe,yes\n"), _LABEL,
                 "line 3 is not UTF-8 text"),
    "png_bytes": (_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4), _LABEL,
                  "is not UTF-8 text"),
    "nul_bytes_megabyte": (_bytes(b"\x00" * 1_000_000), _LABEL,
                           "line 1: field larger than field limit"),
    "row_over_limit": (_long_row, _LABEL, f"a row of more than {LIMITS['row']} characters"),
    "columns_over_limit": (_wide_header, ("--label", "c0"),
                           f"columns, more than {LIMITS['columns']}"),
    "file_over_size_limit": (_sparse(LIMITS["bytes"] + 1), _LABEL,
                             f"is {LIMITS['bytes'] + 1} bytes, more than the "
                             f"{LIMITS['bytes'] >> 20} MiB a CSV file may have"),
    "dev_zero": (None, "/dev/zero", "is a character device, not a CSV file"),
    "dev_null": (None, "/dev/null", "is a character device, not a CSV file"),
    "symlink_to_dev_zero": (_symlink("/dev/zero"), _LABEL,
                            "is a character device, not a CSV file"),
    "fifo": (_fifo, _LABEL, "is a FIFO, not a CSV file"),
    "directory": (_directory, _LABEL, "is a directory, not a CSV file"),
    "missing_file": (lambda path: None, _LABEL, "no such file"),
}


# --- IDX -----------------------------------------------------------------------------------------

def _idx(array, kind=0x08, dims=None):
    array = np.asarray(array, dtype=np.uint8)
    dims = array.shape if dims is None else dims
    return (struct.pack(">HBB", 0, kind, len(dims)) + struct.pack(f">{len(dims)}I", *dims)
            + array.tobytes())


def _valid_idx(seed=0):
    """``{file name: uncompressed IDX bytes}`` of a tiny valid MNIST-style data set."""
    rng = np.random.default_rng(seed)
    files = {}
    for split, n in (("train", 40), ("test", 20)):
        images, labels = IDX_FILES[split]
        files[images] = _idx(rng.integers(0, 256, (n, 28, 28)))
        files[labels] = _idx(np.arange(n) % 10)
    return files


_IMAGES, _LABELS = IDX_FILES["train"]


def _replace(name, data=None, compress=True):
    """A data directory whose file ``name`` holds ``data`` (gzipped unless ``compress`` is
    False); with ``data`` callable, ``data(path)`` makes the file instead. ``name`` may be a
    dictionary ``{name: data}`` instead, for several files."""
    changes = name if isinstance(name, dict) else {name: data}

    def make(directory):
        directory.mkdir()
        for file, raw in _valid_idx().items():
            path = directory / file
            new = changes.get(file, raw)
            if callable(new):
                new(path)
            else:
                compressed = compress or file not in changes
                path.write_bytes(gzip.compress(new, mtime=0) if compressed else new)
    return make


_VALID = _valid_idx()

#: ``{name: (make(directory), the file of it the error names, expected text)}``.
IDX_CASES = {
    "idx_images_count_0": (_replace(_IMAGES, _idx(np.zeros((0, 28, 28)))), _IMAGES,
                           "holds no data (its header claims dimensions 0x28x28)"),
    "idx_count_0_both": (_replace({_IMAGES: _idx(np.zeros((0, 28, 28))),
                                   _LABELS: _idx(np.zeros(0))}), _IMAGES,
                         "holds no data (its header claims dimensions 0x28x28)"),
    "idx_labels_count_0": (_replace(_LABELS, _idx(np.zeros(0))), _LABELS,
                           "holds no data (its header claims dimensions 0)"),
    "idx_bad_magic": (_replace(_IMAGES, b"\x00\x00\x0d\x03" + _VALID[_IMAGES][4:]), _IMAGES,
                      "not an unsigned-byte IDX file (magic 0x00000d03)"),
    "idx_nonzero_magic": (_replace(_LABELS, b"\x12\x34" + _VALID[_LABELS][2:]), _LABELS,
                          "not an unsigned-byte IDX file"),
    "idx_zero_dimensions": (_replace(_IMAGES, b"\x00\x00\x08\x00"), _IMAGES,
                            "not an unsigned-byte IDX file"),
    "idx_images_4d": (_replace(_IMAGES, _idx(np.zeros((40, 28, 28, 1)))), _IMAGES,
                      "expected 28x28 images, not shape (40, 28, 28, 1)"),
    "idx_images_8x8": (_replace(_IMAGES, _idx(np.zeros((40, 8, 8)))), _IMAGES,
                       "expected 28x28 images, not shape (40, 8, 8)"),
    "idx_labels_2d": (_replace(_LABELS, _idx(np.zeros((40, 1)))), _LABELS,
                      "expected a 1-dimensional label file"),
    "idx_count_mismatch": (_replace(_LABELS, _idx(np.arange(39) % 10)), _LABELS,
                           "39 labels for 40 images"),
    "idx_label_10": (_replace(_LABELS, _idx(np.full(40, 10))), _LABELS,
                     "label 10 is not a class 0..9"),
    "idx_truncated": (_replace(_IMAGES, _VALID[_IMAGES][:16 + 1000]), _IMAGES,
                      "truncated, 1000 of 31360 data bytes"),
    "idx_trailing": (_replace(_IMAGES, _VALID[_IMAGES] + b"\x00"), _IMAGES,
                     "trailing bytes after 31360 data bytes"),
    "idx_short_header": (_replace(_IMAGES, _VALID[_IMAGES][:10]), _IMAGES,
                         "truncated IDX header"),
    "idx_header_claims_terabytes": (
        _replace(_IMAGES, _idx(np.zeros(0), dims=(0xFFFFFFFF, 28, 28))), _IMAGES,
        f"claims {0xFFFFFFFF * 784} bytes of data, more than the {IDX_MAX_BYTES}"),
    "idx_labels_claim_4g": (_replace(_LABELS, _idx(np.zeros(0), dims=(0xFFFFFFFF,))), _LABELS,
                            "bytes of data, more than the"),
    "idx_not_gzip": (_replace(_IMAGES, _VALID[_IMAGES], compress=False), _IMAGES,
                     "cannot be read as gzipped IDX data"),
    "idx_cut_gzip": (_replace(_IMAGES, lambda p: p.write_bytes(
        gzip.compress(_VALID[_IMAGES], mtime=0)[:200])), _IMAGES,
        "cannot be read as gzipped IDX data"),
    "idx_over_size_limit": (_replace(_IMAGES, _sparse(IDX_MAX_BYTES + 1)), _IMAGES,
                            f"more than the {IDX_MAX_BYTES >> 20} MiB an IDX file may have"),
    "idx_dev_zero": (_replace(_IMAGES, _symlink("/dev/zero")), _IMAGES,
                     "is a character device, not an IDX file"),
    "idx_fifo": (_replace(_LABELS, _fifo), _LABELS, "is a FIFO, not an IDX file"),
    "idx_directory": (_replace(_IMAGES, _directory), _IMAGES, "is a directory, not an IDX file"),
    "idx_missing": (_replace(_LABELS, lambda p: None), _LABELS, "no such file"),
}

CASES = {**{name: expect for name, (_, _, expect) in CSV_CASES.items()},
         **{name: expect for name, (_, _, expect) in IDX_CASES.items()}}


def make_bad_data(out_dir):
    """Write every case into ``out_dir`` (created); return the :class:`BadData` list."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    made = []
    for name, (make, extra, expect) in CSV_CASES.items():
        if make is None:
            path, argv = Path(extra), ("--csv", extra, *_LABEL)
        else:
            path = out_dir / f"{name}.csv"
            make(path)
            argv = ("--csv", str(path), *extra)
        made.append(BadData(name, argv, path, expect, blocks=make is _fifo))
    for name, (make, file, expect) in IDX_CASES.items():
        directory = out_dir / name
        make(directory)
        made.append(BadData(name, ("--dataset", "mnist", "--data-dir", str(directory)),
                            directory / file, expect, blocks=name == "idx_fifo"))
    return made


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: make_bad_data.py OUTDIR", file=sys.stderr)
        return 2
    made = make_bad_data(argv[0])
    print(f"{len(made)} bad data cases in {argv[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
