"""The whole boot of a network whose weight table is in SPRAM (issue 20): the cocotb flash model
serves ``weights.bin``, the design loads and checks it, then classifies, bit-exact against the
golden model; a flipped weight byte or a load cut short is reported and never answered."""

import pytest

from lwc.compiler import netfile
from lwc.compiler.architecture import Streaming
from lwc.compiler.driver import compile_design
from lwc.hw.spram_table import LoadFault, boot_cycles
from lwc.hw.streaming import WAKE_CLOCK
from lwc.sim import cocotb_sim, gatelevel
from lwc.weights_image import HEADER_BYTES

from helpers import quiet


@pytest.fixture(scope="module")
def digits(digits_net_path):
    """The trained digits net, compiled once as a one-lane SPRAM design, and its test set."""
    net = netfile.load(digits_net_path)
    design = compile_design(net, Streaming(8, 1, "spram"))
    x, _ = cocotb_sim.test_set(net)
    return design, x


def _boot_cycles(design):
    """The cycles the network's loader promises (StreamingNetwork.boot_cycles: no component is
    built to know them)."""
    return boot_cycles(design.hardware.table_bytes, clk_freq=WAKE_CLOCK)


def assert_booted_and_exact(report, design, n):
    assert report.boot_fault is LoadFault.NONE and report.flash_violations == ()
    assert report.boot_cycles == _boot_cycles(design)
    assert report.vectors == report.received == n
    assert report.mismatches == 0 and report.protocol_errors == 0, report.format()
    assert report.ok
    assert f"boot: weight table loaded from flash and checked after {report.boot_cycles:,} " \
           f"cycles" in report.format()


@pytest.mark.yosys
@pytest.mark.verilator
def test_digits_boots_from_flash_then_classifies_its_test_set(digits, tmp_path):
    design, x = digits
    report = cocotb_sim.simulate(design, x, build_dir=tmp_path, seed=3, progress=quiet)
    assert_booted_and_exact(report, design, len(x))


def _flipped(design, byte):
    image = bytearray(design.weights_image())
    image[HEADER_BYTES + byte] ^= 0x10
    return bytes(image)


@pytest.mark.yosys
@pytest.mark.icarus
def test_digits_boot_proof_fails_on_a_bad_image(digits, tmp_path):
    """The same build: the good image boots and classifies; one flipped weight byte (the table's
    last, so the whole table is read before the check) or a read cut short is reported (fault
    CRC, ``ready`` never rises) and no vector is ever answered. A byte flipped anywhere else is
    ``test_cocotb_spram_boot.py``'s, on the table alone."""
    design, x = digits
    x = x[:6]
    good = cocotb_sim.simulate(design, x, simulator="icarus", build_dir=tmp_path,
                               progress=quiet)
    assert_booted_and_exact(good, design, len(x))
    table = design.hardware.table_bytes
    for image, cut_after in [(_flipped(design, table - 1), None),
                             (design.weights_image(), HEADER_BYTES + table // 3)]:
        bad = cocotb_sim.simulate(design, x, simulator="icarus", build_dir=tmp_path,
                                  progress=quiet, flash_image=image, flash_cut_after=cut_after)
        assert bad.boot_fault is LoadFault.CRC and bad.boot_cycles is None
        assert bad.received == 0 and bad.mismatches == len(x)
        assert not bad.ok
        assert "boot: the weight table did NOT load (fault CRC): the design never answered" in \
            bad.format()


@pytest.mark.yosys
@pytest.mark.icarus
def test_digits_on_the_ice40_spram_model(digits, tmp_path, yosys):
    """The Verilog with SB_SPRAM256KA blocks (as the UP5K build maps the table), simulated with
    Yosys's iCE40 cell model of the block."""
    design, x = digits
    x = x[:40]
    source = tmp_path / "lwc_net.v"
    text = design.verilog(source, spram=True)
    assert "SB_SPRAM256KA" in text
    models = gatelevel.cell_models(tmp_path, yosys=yosys[0])
    report = cocotb_sim.simulate(design, x, simulator="icarus", build_dir=tmp_path,
                                 sources=[source, models],
                                 build_args=gatelevel.build_args("icarus"), progress=quiet)
    assert_booted_and_exact(report, design, len(x))


@pytest.mark.slow
@pytest.mark.yosys
@pytest.mark.verilator
def test_digits_netlist_classifies_its_whole_test_set(digits, tmp_path, yosys):
    """Gate level on the whole test set, as ``lwc demo mnist-spram`` runs MNIST: the synth_ice40
    netlist (SB_SPRAM256KA blocks on Yosys's cell model) boots from the flash model serving
    ``weights.bin``, then all 450 images are bit-exact (Verilator, two processes, each booting)."""
    design, x = digits
    report = gatelevel.simulate(design, x, yosys=yosys[0], env=yosys[1], build_dir=tmp_path,
                                simulator="verilator", processes=2, progress=quiet)
    assert "iCE40 netlist" in report.simulator
    assert_booted_and_exact(report, design, len(x))
