"""The Python API on the bundled digits data: train a small net, compile it once for the
iCEBreaker, predict with the golden model, check the hardware in cocotb, build the bitstream.

Run from the repository root: ``python examples/api_digits.py`` (about a minute on two cores;
everything goes under ``build/api``).
"""

import numpy as np

import lwc
from lwc.train import TrainConfig, train_to_file

# Train and export a sparse ternary net (`lwc train --hidden 64 --sparsity 0.87 --epochs 20`).
train_to_file(TrainConfig(dataset="digits", hidden=(64,), sparsity=0.87, epochs=20, seed=0),
              "build/api/net.pt", plots=False)
model = lwc.load("build/api/net.pt")

# Compile once: passes and the architecture, planned for the board (`lwc compile --board`).
design = model.compile(board="icebreaker")
print(design.facts.table())

# The golden model on the net's own test split (as `lwc sim` rebuilds it from net.pt).
x, y = model.test_data()
labels = design.predict(x)
print(f"test accuracy {np.mean(labels == y):.2%} on {len(x)} images")

# The generated Verilog in cocotb (Verilator): raises HardwareMismatchError if it differs.
assert np.array_equal(design.predict_hw(x[:32], build_dir="build/api/sim"), labels[:32])

# Yosys and nextpnr (YoWASP): the bitstream and its report (`lwc compile`'s summary).
built = design.build(out_dir="build/api/icebreaker")
print(built.table())
print(f"{built.logic_cells.used} logic cells, {built.ff.used} flip-flops, "
      f"{built.block_ram.used} block RAMs, {built.fmax_mhz:.1f} MHz "
      f"({'met' if built.timing_met else 'NOT met'}): {built.bitstream}")
# built.flash()  # programs an iCEBreaker attached over USB (`lwc flash`)
