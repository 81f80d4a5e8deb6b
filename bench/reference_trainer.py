"""A minimal straight-through ternary MLP trainer: the yardstick ``bench/train_speed.py`` times
``lwc train --method ste`` against (issue 14).

As plain as such a script gets: the data resident as one tensor, index-shuffled mini-batches,
ternary weights by a magnitude quantile cut (``kthvalue``) in every forward pass with a
straight-through gradient, batch norm and a binary step (straight-through within +-1) in the
hidden layers, ``alpha * (W a + b)`` at the output, Adam with a cosine decay, random shifts of up
to ``augment`` pixels. No validation, no model selection, no export: it reports the test accuracy
of the last epoch's net in eval mode (batch norm folded into the step, as ``lwc`` exports it).
It reads the dataset through :mod:`lwc.data` (loading is not what is timed) and nothing else of
lwc. Run alone::

    python bench/reference_trainer.py --data-dir ../shared/data/mnist --epochs 60
"""

import argparse
import math
import time

import numpy as np
import torch
import torch.nn.functional as F


class Ternary(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, sparsity):
        k = int(round(sparsity * w.numel()))
        if k == 0:
            return torch.sign(w)
        cut = w.detach().abs().flatten().kthvalue(k).values
        return torch.sign(w) * (w.abs() > cut)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class Step(torch.autograd.Function):
    @staticmethod
    def forward(ctx, y):
        ctx.save_for_backward(y)
        return (y >= 0).float()

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * (y.abs() <= 1).float()


class Net(torch.nn.Module):
    def __init__(self, sizes, sparsity):
        super().__init__()
        self.sparsity = sparsity
        self.w = torch.nn.ParameterList(
            torch.nn.Parameter(torch.empty(o, i).uniform_(-1, 1))
            for i, o in zip(sizes[:-1], sizes[1:]))
        self.bn = torch.nn.ModuleList(torch.nn.BatchNorm1d(o) for o in sizes[1:-1])
        self.bias = torch.nn.Parameter(torch.zeros(sizes[-1]))
        fan_in = max(1.0, (1 - sparsity[-1]) * sizes[-2])
        self.log_alpha = torch.nn.Parameter(torch.tensor(-0.5 * math.log(fan_in)))

    def forward(self, x):
        for w, s, bn in zip(self.w, self.sparsity, self.bn):
            x = Step.apply(bn(x @ Ternary.apply(w, s).t()))
        w = Ternary.apply(self.w[-1], self.sparsity[-1])
        return self.log_alpha.exp() * (x @ w.t() + self.bias)


def shift(x, side, pixels, gen):
    n = len(x)
    img = F.pad(x.view(n, side, side), (pixels,) * 4)
    dr, dc = torch.randint(0, 2 * pixels + 1, (2, n), generator=gen, device=x.device)
    rows = torch.arange(side, device=x.device)[None, :] + dr[:, None]
    cols = torch.arange(side, device=x.device)[None, :] + dc[:, None]
    b = torch.arange(n, device=x.device)[:, None, None]
    return img[b, rows[:, :, None], cols[:, None, :]].reshape(n, -1)


def load(data_dir, bits, seed):
    """MNIST's training split (less lwc's validation split) and test set, quantized."""
    from lwc.data import load_dataset

    ds = load_dataset("mnist", seed=seed, data_dir=data_dir)
    step = 256 // (1 << bits)

    def q(x):
        return torch.from_numpy((x // step).astype(np.float32))  # thresholds step, 2 step, ...

    return q(ds.x_train), torch.from_numpy(ds.y_train), q(ds.x_test), torch.from_numpy(ds.y_test)


def train(data_dir, *, hidden=(512,), sparsity=0.9885, output_sparsity=0.8, input_bits=2,
          augment=1, epochs=60, lr=0.03, batch_size=64, seed=0, device="cpu", threads=1):
    """Train; returns ``(test accuracy, training seconds, seconds per epoch)``."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    x, y, xt, yt = (t.to(device) for t in load(data_dir, input_bits, seed))
    sizes = (x.shape[1], *hidden, 10)
    net = Net(sizes, (sparsity,) * len(hidden) + (output_sparsity,)).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps = math.ceil(len(x) / batch_size) * epochs
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: 0.5 * (1 + math.cos(math.pi * min(t, steps) / steps)))
    gen = torch.Generator(device=device).manual_seed(seed)
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(x), device=device, generator=gen)
        for b in range(0, len(x), batch_size):
            idx = order[b:b + batch_size]
            if len(idx) < 2:
                continue
            xb = shift(x[idx], 28, augment, gen) if augment else x[idx]
            loss = F.cross_entropy(net(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    if device != "cpu":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    net.eval()
    with torch.no_grad():
        accuracy = float((net(xt).argmax(1) == yt).float().mean())
    return accuracy, seconds, seconds / epochs


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.03)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    acc, seconds, per_epoch = train(a.data_dir, epochs=a.epochs, lr=a.lr, batch_size=a.batch_size,
                                    seed=a.seed, device=a.device, threads=a.threads)
    print(f"test accuracy {acc:.2%}, {seconds:.1f} s ({per_epoch:.2f} s/epoch)")


if __name__ == "__main__":
    main()
