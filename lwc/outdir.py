"""Where lwc writes: the output-path policy of every command that writes, decided before any
work starts.

- A net file (``lwc train -o``, :func:`net_file`): a path that names a directory (one that
  exists, or any path ending in ``/``) gets :data:`NET_FILE` inside it; the directories are
  created when the net is written. A path that cannot be written is refused at once, before
  training.
- A working directory (``lwc sim --build-dir``, ``lwc verify --work-dir``, ``lwc demo -o``,
  :func:`check_dir`) must be a directory or creatable as one.
- The default directory of a command on a net (:func:`default_dir`) is
  ``build/<name>-<fingerprint>-<kind>``: the net's name (its file name, or its folder's name for
  a file called ``net.pt``) and the first 8 hex digits of its :func:`fingerprint`, so builds of
  different nets never share a directory.
- A build directory (``lwc compile -o``): two builds never mix, a directory holding files lwc did
  not write is not written into unless asked, and the build of another net is not replaced unless
  asked. :func:`claim` decides, before anything is written, what to remove from an existing
  directory; :class:`OutputDir` then removes it, creates the directory, and keeps the manifest
  :data:`MANIFEST` listing every file this compilation wrote and the net it was built from
  (rewritten at the end, also when the build fails: ``"complete": false`` and the error).
"""

import hashlib
import json
import os
from pathlib import Path

from . import __version__
from .errors import UsageError

__all__ = ["MANIFEST", "NET_FILE", "net_file", "check_dir", "fingerprint", "net_name",
           "default_dir", "read_manifest", "claim", "OutputDir"]

#: The file name ``lwc train`` writes into a directory given as its output.
NET_FILE = "net.pt"
#: Hex digits of the fingerprint in a default directory name.
_SHORT = 8

#: The file in an output directory that lists what lwc wrote there.
MANIFEST = "lwc-build.json"
_MANIFEST_TAG = "lwc-build"


def _nearest_existing(path):
    """``path`` or its closest ancestor that exists (``.`` for a relative path's start)."""
    path = Path(os.path.abspath(path))
    while not path.exists() and not path.is_symlink() and path != path.parent:
        path = path.parent
    return path


def check_dir(path, what="output directory"):
    """Refuse ``path`` as a directory to write into when it is something else, or when it cannot
    be created (a file on the way, no permission); nothing is created here.

    Raises
    ------
    UsageError
        One line naming ``path`` (the ``what`` it was to be) and the problem.
    """
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise UsageError(f"{path}: not a directory; choose another {what}")
        if not os.access(path, os.W_OK | os.X_OK):
            raise UsageError(f"{path}: {what} is not writable")
        return
    base = _nearest_existing(path)
    if not base.is_dir():
        raise UsageError(f"{path}: cannot create the {what}: {base} is a file, not a directory")
    if not os.access(base, os.W_OK | os.X_OK):
        raise UsageError(f"{path}: cannot create the {what}: {base} is not writable")


def net_file(path):
    """The ``net.pt`` path that the output option ``path`` names, checked before any work.

    A directory (one that exists, or a path ending in ``/``) gets :data:`NET_FILE` inside it
    (created when the net is written); any other path is the file itself, whose folder is
    created when the net is written. The result is ``path`` unchanged when it names a file.

    Raises
    ------
    UsageError
        The file could not be written: its folder is a file or not writable, or the path is
        something other than a regular file.
    """
    text = os.fspath(path)
    if not text:
        raise UsageError("output path must not be empty")
    if text.endswith(("/", os.sep)) or os.path.isdir(text):
        text = os.path.join(text, NET_FILE)
    if os.path.isdir(text):
        raise UsageError(f"{text}: is a directory; choose another output file (-o)")
    if os.path.lexists(text) and not os.path.isfile(text):
        raise UsageError(f"{text}: not a regular file; choose another output file (-o)")
    if os.path.exists(text) and not os.access(text, os.W_OK):
        raise UsageError(f"{text}: output file is not writable")
    folder = os.path.dirname(os.path.abspath(text))
    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise UsageError(f"{text}: cannot write the net: {folder} is a file, not a directory")
    check_dir(folder, "output folder")
    return text


def fingerprint(net):
    """A hex digest of what ``net`` (an IR network) computes: its IR text
    (:func:`lwc.compiler.ir.dump`), so two files holding the same network share it, and a
    retrained network gets another."""
    from .compiler.ir import dump

    return hashlib.sha256(dump(net).encode()).hexdigest()


def net_name(net_path):
    """The name a net file goes by in directory names: its stem, or for a file called
    ``net.pt`` (what ``lwc train`` writes by default) the name of its folder."""
    path = Path(os.path.abspath(net_path))
    stem = path.stem
    if path.name == NET_FILE and path.parent.name:
        stem = path.parent.name
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in stem) or "net"


def default_dir(net_path, net, kind, root="build"):
    """``<root>/<name>-<fingerprint>-<kind>``: the default directory of a command (``kind``: a
    board, ``verilog``, ``sim``...) on the net ``net`` read from ``net_path``."""
    return os.path.join(root, f"{net_name(net_path)}-{fingerprint(net)[:_SHORT]}-{kind}")


def _snapshot(out):
    """name -> (inode, size, mtime) of the plain entries of ``out``."""
    snap = {}
    for entry in os.scandir(out):
        st = entry.stat(follow_symlinks=False)
        snap[entry.name] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return snap


def read_manifest(out):
    """The manifest (a dict) of the lwc build in the directory ``out``, or ``None`` when it is
    missing, unreadable or not an lwc manifest."""
    try:
        data = json.loads((Path(out) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != _MANIFEST_TAG:
        return None
    return data


def _read_manifest(out):
    """The file names an earlier lwc build listed in ``out``'s manifest, or ``None`` when the
    manifest is missing, unreadable or lists something that is not a plain name in ``out``."""
    data = read_manifest(out)
    if data is None:
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


def claim(out, force, net=None):
    """The names in ``out`` to remove before building there; refuse a directory lwc does not own.

    The files an earlier lwc build listed in its manifest are to be removed; a directory holding
    anything else (files lwc did not write, or an unreadable manifest) is refused unless
    ``force``, which keeps those files. With ``net`` (the :func:`fingerprint` of the net to
    build), the build of another net (its manifest records another fingerprint) is refused too
    unless ``force``. Nothing is changed here.
    """
    out = Path(out)
    if not out.exists() and not out.is_symlink():
        check_dir(out)  # creatable: no file on the way, permission
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
    if net is not None and listed is not None and not force:
        _check_same_net(out, read_manifest(out), net)
    stale = sorted(own)
    if listed is not None:
        stale.append(MANIFEST)
    return stale


def _check_same_net(out, data, net):
    recorded = data.get("net")
    if not isinstance(recorded, dict) or not isinstance(recorded.get("fingerprint"), str):
        return  # a build from before nets were recorded: nothing says it is another net
    if recorded["fingerprint"] == net:
        return
    source = recorded.get("source")
    what = f"{source} " if isinstance(source, str) and source else ""
    raise UsageError(f"{out}: holds the build of another net ({what}fingerprint "
                     f"{recorded['fingerprint'][:_SHORT]}, this one is {net[:_SHORT]}); choose "
                     f"another output directory (-o), or pass --force to replace it")


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
