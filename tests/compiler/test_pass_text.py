"""Every pass as text, xDSL style: a small net as IR text (:func:`lwc.compiler.ir.dump`'s form,
read by :func:`lwc.compiler.irtext.parse`), the pass applied, the expected text. Then the phases:
which net each pass takes, and the pipeline refusing an order that would undo sharing."""

import textwrap

import pytest

from lwc.compiler import ir, passes
from lwc.compiler.irtext import parse


def run_text(pass_, before, **options):
    """The dump of ``pass_`` applied to the net written as ``before`` (which reads back to
    itself)."""
    before = textwrap.dedent(before).lstrip("\n")
    net = parse(before)
    assert ir.dump(net) == before
    return ir.dump(ir.verify(pass_(net, **options)))


def text(block):
    return textwrap.dedent(block).lstrip("\n")


def test_fold_constants():
    # n1 has no inputs and threshold 0: always 1, so its readers add +1 (n0) or -1 (as -a1) to
    # their sums. n2 can reach 3 < 7: always 0. Both stay for remove_unread.
    assert run_text(passes.fold_constants, """
        network inputs=4 bits=2 used=4 outputs=2 quantizer=none
        input_map 0 1 2 3
        layer 0 step neurons=3
          n0 threshold=1 : +x0 +x1
          n1 threshold=0 :
          n2 threshold=7 : +x2
        layer 1 linear neurons=2
          n0 bias=5 : +a0 -a1 +a2
          n1 bias=0 : +a1
        classes 0 1
        """) == text("""
        network inputs=4 bits=2 used=4 outputs=2 quantizer=none
        input_map 0 1 2 3
        layer 0 step neurons=3
          n0 threshold=1 : +x0 +x1
          n1 threshold=0 :
          n2 threshold=7 : +x2
        layer 1 linear neurons=2
          n0 bias=4 : +a0
          n1 bias=1 :
        classes 0 1
        """)


def test_remove_unread():
    # Layer 2 reads only a0; then layer 1's n1 is unread, and with it layer 0's n1 and n2.
    assert run_text(passes.remove_unread, """
        network inputs=4 bits=2 used=4 outputs=2 quantizer=none
        input_map 0 1 2 3
        layer 0 step neurons=3
          n0 threshold=1 : +x0
          n1 threshold=1 : +x1
          n2 threshold=1 : +x2
        layer 1 step neurons=2
          n0 threshold=1 : +a0
          n1 threshold=1 : +a1
        layer 2 linear neurons=2
          n0 bias=0 : +a0
          n1 bias=0 : +a0
        classes 0 1
        """) == text("""
        network inputs=4 bits=2 used=4 outputs=2 quantizer=none
        input_map 0 1 2 3
        layer 0 step neurons=1
          n0 threshold=1 : +x0
        layer 1 step neurons=1
          n0 threshold=1 : +a0
        layer 2 linear neurons=2
          n0 bias=0 : +a0
          n1 bias=0 : +a0
        classes 0 1
        """)


def test_remove_unused_inputs():
    # Features 0 and 2 are read by no neuron: input_map keeps the original feature numbers, and
    # so do the terms (x1, x3: net.v's wires).
    assert run_text(passes.remove_unused_inputs, """
        network inputs=4 bits=2 used=4 outputs=1 quantizer=none
        input_map 0 1 2 3
        layer 0 ternary neurons=2
          n0 lo=-1 hi=1 : +x1 +x3
          n1 lo=-1 hi=0 : -x3
        layer 1 linear neurons=1
          n0 bias=0 : +a0 -a1
        classes 0
        """) == text("""
        network inputs=4 bits=2 used=2 outputs=1 quantizer=none
        input_map 1 3
        layer 0 ternary neurons=2
          n0 lo=-1 hi=1 : +x1 +x3
          n1 lo=-1 hi=0 : -x3
        layer 1 linear neurons=1
          n0 bias=0 : +a0 -a1
        classes 0
        """)


SHAREABLE = """
    network inputs=4 bits=2 used=4 outputs=3 quantizer=none
    input_map 0 1 2 3
    layer 0 linear neurons=3
      n0 bias=0 : +x0 +x1 +x2
      n1 bias=0 : -x0 -x1 +x3
      n2 bias=0 : +x0 +x1 -x3
    classes a b c
    """
SHARED = """
    network inputs=4 bits=2 used=4 outputs=3 quantizer=none
    input_map 0 1 2 3
    layer 0 linear neurons=3 shared=2
      s0 : +x0 +x1
      s1 : +x3 -s0
      n0 bias=0 : +x2 +s0
      n1 bias=0 : +s1
      n2 bias=0 : -s1
    classes a b c
    """


def test_share():
    # x0 + x1 is in all three neurons (negated in n1), then x3 - (x0 + x1) in two.
    assert run_text(passes.share, SHAREABLE) == text(SHARED)
    # Idempotent: a shared net is expanded and shared again to the same nodes.
    assert run_text(passes.share, SHARED) == text(SHARED)


def test_share_leaves_one_bit_layers_alone():
    one_bit = SHAREABLE.replace("bits=2", "bits=1")
    assert run_text(passes.share, one_bit) == text(one_bit)


def test_infer_widths():
    # Sums over 3-bit inputs: x0 + x1 - x2 in -7..14, clip(s >> 1, 0..3), then +-a0.
    assert run_text(passes.infer_widths, """
        network inputs=4 bits=3 used=4 outputs=2 quantizer=none
        input_map 0 1 2 3
        layer 0 clip shift=1 bits=2 neurons=1
          n0 threshold=0 : +x0 +x1 -x2
        layer 1 linear neurons=2
          n0 bias=2 : +a0
          n1 bias=0 : -a0
        classes 0 1
        """) == text("""
        network inputs=4 bits=3 used=4 outputs=2 quantizer=none
        input_map 0 1 2 3
        layer 0 clip shift=1 bits=2 neurons=1
          n0 threshold=0 sum=[-7,14] : +x0 +x1 -x2
        layer 1 linear neurons=2
          n0 bias=2 sum=[0,3] : +a0
          n1 bias=0 sum=[-3,0] : -a0
        classes 0 1
        """)


def test_infer_widths_of_shared_nodes():
    assert run_text(passes.infer_widths, SHARED) == text("""
        network inputs=4 bits=2 used=4 outputs=3 quantizer=none
        input_map 0 1 2 3
        layer 0 linear neurons=3 shared=2
          s0 sum=[0,6] : +x0 +x1
          s1 sum=[-6,3] : +x3 -s0
          n0 bias=0 sum=[0,9] : +x2 +s0
          n1 bias=0 sum=[-6,3] : +s1
          n2 bias=0 sum=[-3,6] : -s1
        classes a b c
        """)


def test_tabulate():
    # One-bit inputs: n0 (three of them) is one LUT4 against a compressor tree and a comparison;
    # n1 reads one input (a comparison either way) and n2 twelve (past the cost model's reach).
    # The output n0 adds two bits: two LUT4s as a table (a two-bit score), two cells as an
    # adder; a tie stays a sum.
    many = " ".join(f"+x{k}" for k in range(12))
    before = f"""
        network inputs=12 bits=1 used=12 outputs=2 quantizer=none
        input_map 0 1 2 3 4 5 6 7 8 9 10 11
        layer 0 step neurons=3
          n0 threshold=1 : +x0 -x1 +x2
          n1 threshold=1 : +x3
          n2 threshold=6 : {many}
        layer 1 linear neurons=2
          n0 bias=0 : +a0 +a1
          n1 bias=0 : -a2
        classes 0 1
        """
    assert run_text(passes.tabulate, before) == text(before).replace(
        " : +x0 -x1 +x2", " table : +x0 -x1 +x2")
    # tabulate_all: every neuron of at most MAX_TABLE_BITS (10) bits.
    assert run_text(passes.tabulate_all, before) == text(before).replace(
        " : +x0 -x1", " table : +x0 -x1").replace(" : +x3", " table : +x3").replace(
        " : +a0 +a1", " table : +a0 +a1").replace(" : -a2", " table : -a2")


# --- phases ----------------------------------------------------------------------------------

def test_text_reads_back_to_the_same_net(make_network, rng):
    net = make_network(rng, inputs=9, hidden=(7, 5), outputs=3, bits=3, density=0.6,
                       kinds=("step", "ternary", "clip"))
    for phase in (net, passes.run(net, passes.PRUNE), passes.compile_network(net)):
        back = parse(ir.dump(phase))
        assert type(back) is type(phase) and ir.dump(back) == ir.dump(phase)
        assert back.layers == phase.layers and back.input_map == phase.input_map


def test_pruning_passes_refuse_shared_and_compiled_nets():
    shared, compiled = parse(text(SHARED)), passes.compile_network(parse(text(SHAREABLE)))
    for pass_ in passes.PRUNE:
        for net, phase in ((shared, "shared"), (compiled, "compiled")):
            with pytest.raises(ir.VerifyError, match=rf"^pass {pass_.name} takes a plain net, "
                                                     rf"not a {phase} "):
                pass_(net)


def test_pipeline_refuses_a_pass_after_share_that_needs_plain_input():
    net = parse(text(SHAREABLE))
    for order in ((passes.share, passes.fold_constants),
                  (passes.share, passes.infer_widths, passes.remove_unread)):
        with pytest.raises(ir.VerifyError, match=rf"pass {order[-1].name} takes a plain net, "
                                                 rf"but pass {order[-2].name} gives a "):
            passes.run(net, order)
    with pytest.raises(ir.VerifyError, match="is not a compiler pass"):
        passes.run(net, (ir.unshare,))
    # The pipeline lists are explicit and in a valid order.
    assert passes.PIPELINE == (*passes.PRUNE, passes.share, passes.infer_widths)
    assert passes.PIPELINE_UNSHARED == (*passes.PRUNE, passes.infer_widths)
    assert passes.check_order(passes.PIPELINE) is passes.Phase.COMPILED
    assert passes.check_order(passes.PIPELINE_UNSHARED) is passes.Phase.COMPILED


def test_widths_belong_to_a_compiled_network():
    compiled = passes.infer_widths(parse(text(SHAREABLE)))
    assert isinstance(compiled, ir.CompiledNetwork)
    # A plain Network carries no widths ...
    with_widths = ir.Network(compiled.input, compiled.layers, compiled.classes,
                             compiled.input_map)
    with pytest.raises(ir.VerifyError, match="a sum_range in a Network that is not compiled"):
        ir.verify(with_widths)
    # ... and a CompiledNetwork has every one of them.
    layer = compiled.layers[0]
    from dataclasses import replace
    missing = replace(compiled, layers=(replace(layer, neurons=(
        replace(layer.neurons[0], sum_range=None), *layer.neurons[1:])),))
    with pytest.raises(ir.VerifyError, match=r"neuron 0: sum_range None is not \(0, 9\)"):
        ir.verify(missing)
    assert ir.verify(ir.without_widths(compiled)) == parse(text(SHAREABLE))
