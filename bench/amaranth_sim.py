"""Throughput of the Amaranth (Python) simulation of a lowered network, in vectors per second.

Builds a random sparse ternary network, lowers it, streams vectors through ``amaranth.sim`` at one
per clock (output always ready) and checks every output against the golden model. Example::

    python bench/amaranth_sim.py --inputs 64 --hidden 64 --outputs 10 --bits 4 --density 0.3 \\
        --vectors 500 --register-every none 1

With ``--net net.pt`` it runs a trained net on its own test set instead (``--data-dir`` for
MNIST-style data)::

    python bench/amaranth_sim.py --net build/digits/net.pt
"""

import argparse
import time

import numpy as np

from lwc.compiler import golden, ir, passes
from lwc.compiler.lower import lower
from lwc.sim.amaranth_sim import simulate


def random_net(rng, inputs, hidden, outputs, bits, density):
    """A dense-built random ternary net: ternary hidden layers with thresholds near the middle
    of each neuron's reachable sums, linear output layer."""
    sizes = [inputs, *hidden, outputs]
    layers, in_max = [], (1 << bits) - 1
    for li, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        w = rng.choice([-1, 0, 1], size=(n_out, n_in), p=[density / 2, 1 - density, density / 2])
        if li == len(sizes) - 2:
            layers.append((w, ir.Activation("linear"), rng.integers(-3, 4, n_out)))
            break
        spread = max(1, int(np.sqrt(np.abs(w).sum(axis=1).max(initial=1))) * in_max)
        lo = rng.integers(-spread, spread + 1, n_out)
        layers.append((w, ir.Activation("ternary"), np.stack([lo, lo + spread], 1)))
        in_max = 1
    return ir.from_dense(ir.InputSpec(inputs, bits), layers, [f"c{k}" for k in range(outputs)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=64)
    parser.add_argument("--hidden", type=int, nargs="*", default=[64])
    parser.add_argument("--outputs", type=int, default=10)
    parser.add_argument("--bits", type=int, default=4)
    parser.add_argument("--density", type=float, default=0.3)
    parser.add_argument("--vectors", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--register-every", nargs="*", default=["none"],
                        help="values to compare: 'none' or positive integers")
    parser.add_argument("--net", default=None, help="a net.pt: simulate it on its test set")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    if args.net:
        from lwc.compiler import netfile
        from lwc.sim.cocotb_sim import test_set

        net = passes.run(netfile.load(args.net))
        x, _ = test_set(net, data_dir=args.data_dir)
        sizes = "-".join(str(n) for n in (net.input.count, *(layer.size for layer in net.layers)))
        print(f"{args.net}: net {sizes} after passes, {net.input.bits}-bit inputs, "
              f"{len(x)} test vectors")
    else:
        rng = np.random.default_rng(args.seed)
        net = passes.compile_network(random_net(rng, args.inputs, args.hidden, args.outputs,
                                                args.bits, args.density))
        x = rng.integers(0, 1 << args.bits, size=(args.vectors, args.inputs))
        print(f"net {args.inputs}-{'-'.join(map(str, args.hidden))}-{args.outputs}, "
              f"{args.bits}-bit inputs, density {args.density}, {args.vectors} vectors")
    trace = golden.evaluate(net, x)
    print(f"{'register_every':>14} {'latency':>7} {'build s':>8} {'run s':>7} "
          f"{'vectors/s':>10} {'golden':>7}")
    for every in args.register_every:
        every = None if every == "none" else int(every)
        start = time.perf_counter()
        component = lower(net, register_every=every)
        lowered = time.perf_counter() - start
        labels, scores, setup, seconds = simulate(component, x)
        ok = np.array_equal(labels, trace.predictions) and np.array_equal(scores, trace.scores)
        print(f"{every!s:>14} {component.latency:>7} {lowered + setup:>8.2f} {seconds:>7.2f} "
              f"{len(x) / seconds:>10.0f} {'match' if ok else 'DIFFER':>7}")


if __name__ == "__main__":
    main()
