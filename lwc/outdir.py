"""The output-directory policy of ``lwc compile``: two builds never mix, and a directory holding
files lwc did not write is not written into unless asked.

:func:`claim` decides, before anything is written, what to remove from an existing directory;
:class:`OutputDir` then removes it, creates the directory, and keeps the manifest
:data:`MANIFEST` listing every file this compilation wrote (rewritten at the end, also when the
build fails: ``"complete": false`` and the error).
"""

import json
import os
from pathlib import Path

from . import __version__
from .errors import UsageError

__all__ = ["MANIFEST", "claim", "OutputDir"]

#: The file in an output directory that lists what lwc wrote there.
MANIFEST = "lwc-build.json"
_MANIFEST_TAG = "lwc-build"


def _snapshot(out):
    """name -> (inode, size, mtime) of the plain entries of ``out``."""
    snap = {}
    for entry in os.scandir(out):
        st = entry.stat(follow_symlinks=False)
        snap[entry.name] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return snap


def _read_manifest(out):
    """The file names an earlier lwc build listed in ``out``'s manifest, or ``None`` when the
    manifest is missing, unreadable or lists something that is not a plain name in ``out``."""
    try:
        data = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != _MANIFEST_TAG:
        return None
    files = data.get("files")
    if not isinstance(files, list):
        return None
    for name in files:
        # Only plain names: a doctored manifest must not make lwc delete outside ``out``.
        if (not isinstance(name, str) or name in ("", ".", "..", MANIFEST) or "/" in name
                or os.sep in name or "\0" in name):
            return None
    return set(files)


def claim(out, force):
    """The names in ``out`` to remove before building there; refuse a directory lwc does not own.

    The files an earlier lwc build listed in its manifest are to be removed; a directory holding
    anything else (files lwc did not write, or an unreadable manifest) is refused unless
    ``force``, which keeps those files. Nothing is changed here.
    """
    out = Path(out)
    if not out.exists() and not out.is_symlink():
        return []
    if not out.is_dir():
        raise UsageError(f"{out}: not a directory; choose another output directory (-o)")
    try:
        entries = list(os.scandir(out))
    except OSError as exc:
        raise UsageError(f"{out}: cannot read the output directory: {exc.strerror or exc}") \
            from None
    present = {entry.name for entry in entries}
    if not present:
        return []
    listed = _read_manifest(out) if MANIFEST in present else None
    # A listed name that is now a directory is not lwc's to remove.
    files = {entry.name for entry in entries if not entry.is_dir(follow_symlinks=False)}
    own = (listed or set()) & files
    foreign = sorted(present - own - ({MANIFEST} if listed is not None else set()))
    if foreign and not force:
        what = "has no lwc manifest" if listed is None else "holds files lwc did not write"
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3
                                          else "")
        raise UsageError(f"{out}: output directory {what} ({shown}); choose an empty or new "
                         f"directory, or pass --force to build next to them")
    stale = sorted(own)
    if listed is not None:
        stale.append(MANIFEST)
    return stale


def _write_manifest(out, manifest, files, *, complete, error=None):
    data = {"format": _MANIFEST_TAG, "lwc_version": __version__, **manifest,
            "complete": complete, "error": error, "files": files}
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, out / MANIFEST)


class OutputDir:
    """``with OutputDir(out, stale, manifest) as out:`` writes into the directory ``out`` (a
    :class:`~pathlib.Path`) under the manifest.

    On entry the ``stale`` names (from :func:`claim`) are removed and the manifest is written as
    incomplete; on exit it lists every file that appeared or changed, with ``complete`` true only
    when the block finished. ``manifest`` holds extra JSON entries (target, board). An
    :class:`OSError` in the block becomes a :class:`~lwc.errors.UsageError`.
    """

    def __init__(self, out, stale, manifest):
        self.out, self.stale, self.manifest = Path(out), list(stale), dict(manifest)
        self._before = None

    def __enter__(self):
        out = self.out
        try:
            for name in self.stale:
                (out / name).unlink(missing_ok=True)
            out.mkdir(parents=True, exist_ok=True)
            self._before = _snapshot(out)
            _write_manifest(out, self.manifest, [], complete=False)
        except OSError as exc:
            raise UsageError(f"{out}: cannot write the output directory: "
                             f"{exc.strerror or exc}") from None
        return out

    def __exit__(self, kind, exc, tb):
        error = None
        if isinstance(exc, OSError):  # disk full, directory removed under us, ...
            error = f"cannot write in {self.out}: {exc.strerror or exc}"
        elif exc is not None:
            text = str(exc)
            error = (text.splitlines()[0] if text else kind.__name__) \
                if isinstance(exc, Exception) else "interrupted"
        try:
            written = sorted(n for n, stat in _snapshot(self.out).items()
                             if n != MANIFEST and self._before.get(n) != stat)
            _write_manifest(self.out, self.manifest, written, complete=exc is None, error=error)
        except OSError:
            pass  # the error being raised already says what is wrong with the directory
        if isinstance(exc, OSError):
            raise UsageError(error) from None
        return False
