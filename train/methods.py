"""Training methods: how the weights of a :class:`~lwc.train.model.TernaryMLP` become ternary.

Every method is a :class:`Regimen` driven by the one epoch loop of :mod:`lwc.train.loop`, and every
one exports the same way (:mod:`lwc.train.export`), proven against the golden model. Decisions
(rounding, model selection) use the validation split only.

``lwn`` (:class:`LwnRegimen`, the default) — the Lightweight Neural Networks regimen (A. H. Khan,
    *Lightweight Neural Networks*, arXiv:1712.05695). Continuous latent weights are trained for
    error reduction only during the first ``lwn_float`` share of the epochs (a short float
    pre-training; no penalty yet). Then, every epoch, each layer's latent weights are rescaled so
    that ``sparsity`` of them round to 0 (batch norm makes hidden layers scale-invariant; the
    output layer's ``alpha`` takes the factor) and the discrete values are -1, 0, +1; after every
    optimizer step, a steepest-descent step on the discretization penalty ``sum (w -
    nearest(w))**2 / 2`` moves each free weight a share of the way to its nearest discrete value,
    a share that grows quadratically over the epochs up to ``lwn_pull`` per epoch. After every
    epoch, the *black hole* catches every free weight within ``radius`` of a discrete value: it
    snaps to it and stays frozen (no gradient, never moves again). The radius grows with the
    epochs up to ``lwn_radius`` and shrinks when the training error rises above its value at the
    end of the float phase (``radius = lwn_radius * t * min(1, e_float / e)``, errors plus 0.05).
    Once at most ``lwn_round_at`` of the weights are still free, all are rounded; the rounding is
    kept when the validation metric of the rounded net is within ``lwn_tolerance`` of the
    not-yet-rounded net's, and rolled back otherwise (training resumes with a stronger pull).
    Rounding is forced at the end of the discretization phase. The last ``finetune`` share of
    the epochs then trains only the thresholds (batch norm) and the output bias, and the best of
    those epochs on the validation split is kept.

    One departure from the paper, measured: with the paper's continuous forward pass, our
    binary-step nets' rounded version lagged the continuous one by 2-4 points on digits (95-96%
    test accuracy against 98% for ``ste``), because the weights freeze wherever the continuous
    net liked them. During the discretization phase the forward pass therefore rounds a random
    ``lwn_noise`` share of the free weights (straight-through, as quantization noise; default
    1.0: all of them), so the net trains as it will be rounded while the latent weights go
    through the penalty and the black hole (97.7% on digits, mean of 3 seeds). ``lwn_noise=0``
    is the paper's continuous forward pass.

    Depth: batch norm in front of every step keeps every layer's sums at unit scale, the short
    float phase gives the penalty a trained net to start from, and the penalty is off during it;
    with those, 4 hidden layers of 64 reach 94.5% on digits and 8 about 95% (``ste`` 95.5%; a
    wider ``ste_window`` of 2 helps ``ste`` and ``dropneuron``, not ``lwn``).
``ste`` (:class:`SteRegimen`) — ternary weights in every forward pass: ``sign(w)`` above the
    layer's ``sparsity`` quantile of ``|w|``, else 0, with a straight-through gradient; the
    target ramps from half to full over the first ``sparsity_ramp`` of the epochs.
``dropneuron`` — ``ste`` with the DropNeuron group-lasso regularisers (W. Pan, H. Dong, Y. Guo,
    *DropNeuron: Simplifying the Structure of Deep Neural Networks*, arXiv:1606.07326) at
    :data:`DROPNEURON_DEFAULT` unless ``dropneuron`` is given. ``dropneuron > 0`` adds the same
    regularisers to any other method (e.g. ``lwn``): for every hidden neuron, ``sqrt(fan-in) *
    ||incoming weights||_2`` and, for every input and hidden neuron, ``sqrt(fan-out) *
    ||outgoing weights||_2``, summed and times ``dropneuron``, on the latent weights. Whole
    hidden neurons and whole inputs lose all their weights and disappear (the compiler's passes
    remove them).
``prune`` (:class:`PruneRegimen`) — magnitude pruning (S. Han et al., *Learning both Weights and
    Connections for Efficient Neural Networks*, NeurIPS 2015): float training with masks;
    ``prune_rounds`` times (spread over 20%..60% of the epochs), every weight with ``|w| <
    prune_quality * std`` (``std`` of the layer's weights at the first round, fixed as in
    Distiller's sensitivity pruner) is masked for good and the net retrained; after each round,
    hidden neurons left with no inputs or no outputs lose all their weights. The last 40% of
    the epochs train ``mask * sign(w)`` (straight-through); the best of them on validation is
    kept. ``sparsity`` is not used: the share of zeros follows from ``prune_quality``.
``distribution`` (:class:`DistributionRegimen`) — each weight is a learned categorical
    distribution over {-1, 0, +1} (W. Roth, G. Schindler, H. Froening, F. Pernkopf, *Training
    Discrete-Valued Neural Networks with Sign Activations Using Weight Distributions*, ECML
    2019), trained by the probabilistic forward pass of
    :meth:`~lwc.train.model.TernaryMLP.forward_distribution` (Gaussian pre-activations, the step
    through the Gaussian CDF, sampled output scores); the net exports the most probable value of
    each weight. The logits learn 5 times faster than the rest (a small learning rate left deep
    nets at 70% on digits). ``distribution_prior`` adds the mean KL divergence of every weight's
    distribution from the prior ``P(0) = sparsity``, ``P(+-1) = (1 - sparsity) / 2``, which
    makes most weights' most probable value 0 (without it, about 58% zeros on digits); its
    strength ramps up linearly from 0 (KL annealing: at full strength from the start, it
    collapsed a 4-hidden-layer net to all zeros). The last ``finetune`` share of the epochs
    trains only the thresholds of the exported net.
``sample`` (:class:`SampleRegimen`) — quantization by sampling, without retraining the weights:
    a real-valued net (real weights, binary-step hidden neurons with batch norm, as every method
    has) is trained for all but the last ``finetune`` share of the epochs; then every neuron
    draws its integer weights by importance sampling over ``|w|``
    (:func:`~lwc.train.model.sample_counts`): ``N`` jittered equidistant points through the
    cumulative distribution of its ``|w|``, a weight hit ``k`` times becoming ``sign(w) * k``
    (so weights beyond +-1, at most :data:`~lwc.train.model.MAX_WEIGHT`). ``N`` is ``samples``
    per neuron, or the largest ``N`` per layer that leaves ``sparsity`` of the layer's weights
    0; the output layer's neurons take samples in proportion to their ``sum |w|`` (one scale for
    all scores), and its bias and ``alpha`` are rescaled by that scale. A neuron takes fewer
    samples where one of its weights would otherwise exceed the largest magnitude.

    Sampling approximates a neuron well when a few of its weights carry most of its ``sum |w|``;
    plain training leaves the weights spread out (digits at 80% zeros: 57-78% test accuracy
    after sampling against 97-98% before). So the real-valued training adds ``sample_penalty``
    times the mean over neurons of the Hoyer measure ``||w||_1 / (||w||_2 sqrt(fan-in))``, a
    scale-invariant sparsity regulariser (as in M. Yang, W. Wen, H. Li, *DeepHoyer*, ICLR 2020;
    it cannot be met by shrinking the weights, which batch norm would undo), and the latent
    weights start at a tenth of the other methods' scale, so what training learns dominates
    what the initialisation drew. The weights are never
    trained again: the last epochs fit only the thresholds (batch norm) and the output bias to
    the sampled net on the training data, and the best of them on validation is kept. While the
    net is still real-valued, the validation accuracy shown is the real-valued net's and the
    zero share that of a draw from it.
``paths`` (:class:`PathRegimen`) — sparse from scratch by sampling paths (the slides): before
    training, every neuron's ``fan_in`` inputs are chosen by sampling paths from the outputs back
    to the inputs (:mod:`lwc.train.paths`: ``uniform``, stratified so that every neuron is on a
    path, or ``magnitude``, importance-sampled by ``|w|`` of a one-epoch dense pre-pass), and
    only those connections exist: ``sign(w)`` with a straight-through gradient
    (:class:`~lwc.train.model.PathWeights`), so a step's time and memory follow the number of
    weights, not the dense layer sizes. ``sparsity`` sets the fan-in (``round((1 - sparsity) *
    inputs)``) unless ``fan_in`` is given.

``dropout`` (any method; :mod:`lwc.train.dropout`) drops a share ``1 / P`` of every hidden
layer's outputs at each training step, in partitions (the slides' dropout partitions) or plain.
"""

import copy
import math

import torch

from .config import DROPNEURON_DEFAULT, METHODS

__all__ = ["METHODS", "DROPNEURON_DEFAULT", "Regimen", "SteRegimen", "LwnRegimen",
           "PruneRegimen", "DistributionRegimen", "SampleRegimen", "PathRegimen", "make_regimen",
           "group_lasso",
           "remove_dead_neurons"]

def group_lasso(model):
    """The DropNeuron regularisers on the latent weights of ``model`` (see the module docstring):
    incoming groups of every hidden neuron, outgoing groups of every input and hidden neuron,
    each weighted by the square root of its size."""
    total = 0.0
    layers = model.ternary_layers()
    for k, linear in enumerate(layers):
        w = linear.latent()
        n_out, n_in = w.shape
        total = total + math.sqrt(n_out) * w.norm(dim=0).sum()  # outgoing, per input of layer k
        if k < len(layers) - 1:
            total = total + math.sqrt(n_in) * w.norm(dim=1).sum()  # incoming, per hidden neuron
    return total


class Regimen:
    """What a method does around the shared epoch loop (the base trains ``model(x)`` as is).

    ``epochs`` and ``steps`` (per epoch) size the schedules. The loop calls
    :meth:`begin_epoch`, then per mini-batch :meth:`logits` and :meth:`after_step`, then
    :meth:`end_epoch` (which may evaluate, change the weights, or roll back), and keeps the best
    :meth:`selectable` epoch.
    """

    weights = "quantile"

    def __init__(self, config, epochs, steps):
        self.config = config
        self.epochs = epochs
        self.steps = steps

    def sparsity(self, epoch):
        """The sparsity of every layer (hidden layers, then output) the model is built with and
        (for ``quantile`` weights) trains at."""
        return self.config.layer_sparsity()

    def prepare(self, model, x, y):
        """Called once with the training data ``x``, ``y`` after the model is built and before
        the optimizer is (it may replace parameters)."""

    def param_groups(self, model, lr):
        """The optimizer's parameter groups."""
        return [{"params": list(model.parameters()), "lr": lr}]

    def begin_epoch(self, model, epoch):
        pass

    def logits(self, model, x):
        return model(x)

    def penalty(self, model):
        """A regulariser added to the loss of every step (0 for none)."""
        return 0.0

    def after_step(self, model):
        pass

    def end_epoch(self, model, epoch, run):
        """Returns ``(extra history entries, note for the progress line or "")``."""
        return {}, ""

    def selectable(self, epoch):
        return True

    def continuous(self, epoch):
        """Whether the validation after ``epoch`` is of the not-yet-discrete net (the exported
        weights do not exist yet)."""
        return False

    def finetune_start(self):
        """First epoch of the threshold fine-tuning (``epochs`` when there is none)."""
        return self.epochs - min(self.epochs - 1, int(round(self.config.finetune * self.epochs)))


class SteRegimen(Regimen):
    """``ste`` and ``dropneuron``: quantile-ternarized weights with a sparsity ramp."""

    def _ramp(self, epoch):
        # The last epoch is always at the full target, so there is an epoch to choose.
        ramp_epochs = min(int(round(self.config.sparsity_ramp * self.epochs)), self.epochs - 1)
        if ramp_epochs <= 0 or epoch >= ramp_epochs:
            return 1.0
        return 0.5 + 0.5 * epoch / ramp_epochs

    def sparsity(self, epoch):
        ramp = self._ramp(epoch)
        return tuple(s * ramp for s in self.config.layer_sparsity())

    def begin_epoch(self, model, epoch):
        model.set_sparsity(self.sparsity(epoch))

    def selectable(self, epoch):
        return self._ramp(epoch) >= 1.0


class LwnRegimen(Regimen):
    """The Lightweight-Neural-Network regimen (see the module docstring)."""

    weights = "latent"

    def __init__(self, config, epochs, steps):
        super().__init__(config, epochs, steps)
        self.round_by = max(1, self.finetune_start())  # rounding is forced before this epoch
        self.float_epochs = min(int(round(config.lwn_float * epochs)), self.round_by - 1)
        self.rounded_at = None
        self.error_ref = None
        self.rate = 0.0
        self.t = 0.0

    def _discretizing(self, epoch):
        return self.rounded_at is None and epoch >= self.float_epochs

    def begin_epoch(self, model, epoch):
        if not self._discretizing(epoch):
            self.rate = 0.0
            return
        span = max(1, self.round_by - self.float_epochs)
        self.t = min(1.0, (epoch - self.float_epochs + 1) / span)
        pull = self.config.lwn_pull * self.t ** 2  # share of the distance closed per epoch
        self.rate = 1.0 - (1.0 - pull) ** (1.0 / max(1, self.steps))
        for linear, sparsity in zip(model.ternary_layers(), self.config.layer_sparsity()):
            linear.noise = self.config.lwn_noise
            factor = linear.rescale(sparsity)
            if linear is model.output.linear:
                # Hidden layers are scale-invariant (batch norm); the output layer's scores are
                # not: alpha takes the factor, so the logits stay what they were.
                with torch.no_grad():
                    model.output.log_alpha += math.log(factor)

    def after_step(self, model):
        if self.rate > 0:
            for linear in model.ternary_layers():
                linear.pull(self.rate)

    def end_epoch(self, model, epoch, run):
        config = self.config
        # Errors near 0 are noisy; 0.05 keeps their ratio meaningful.
        error = run.train_error + 0.05
        if epoch == self.float_epochs - 1 or self.error_ref is None:
            self.error_ref = error
        if not self._discretizing(epoch):
            if self.rounded_at is None:
                return {"val_continuous": run.evaluate(continuous=True)}, ""
            return {}, ""
        radius = config.lwn_radius * self.t * min(1.0, self.error_ref / error)
        caught = sum(linear.snap(radius) for linear in model.ternary_layers())
        before = run.evaluate(continuous=True)
        extra = {"radius": radius, "pull_rate": self.rate, "caught": caught,
                 "val_continuous": before}
        free = 1.0 - model.discrete_fraction()
        forced = epoch >= self.round_by - 1
        if free > config.lwn_round_at and not forced:
            return extra, ""
        snapshot = run.snapshot()
        for linear in model.ternary_layers():
            linear.round_all()
        after = run.evaluate(continuous=False)
        ok = after >= before - config.lwn_tolerance
        extra.update(round_before=before, round_after=after, rounded=ok or forced)
        if ok or forced:
            self.rounded_at = epoch
            for linear in model.ternary_layers():
                linear.fix()
            how = "forced" if forced and not ok else "kept"
            return extra, f"rounded, {how} (val {before:.2%} -> {after:.2%})"
        run.restore(snapshot)
        return extra, f"rounding rolled back (val {before:.2%} -> {after:.2%})"

    def selectable(self, epoch):
        return self.rounded_at is not None and epoch >= self.rounded_at


def remove_dead_neurons(model):
    """Mask every weight of hidden neurons that have no unmasked input or no unmasked output,
    until none is left; returns how many hidden neurons are dead (all weights masked)."""
    layers = model.ternary_layers()
    changed = True
    while changed:
        changed = False
        for k in range(len(layers) - 1):
            incoming, outgoing = layers[k].mask, layers[k + 1].mask
            alive = incoming.any(dim=1) & outgoing.any(dim=0)
            if (incoming[~alive].any()) or (outgoing[:, ~alive].any()):
                incoming[~alive] = False
                outgoing[:, ~alive] = False
                changed = True
    return sum(int((~layer.mask.any(dim=1)).sum()) for layer in layers[:-1])


class PruneRegimen(Regimen):
    """Iterative magnitude pruning with retraining, then sign training (module docstring)."""

    weights = "masked"

    def __init__(self, config, epochs, steps):
        super().__init__(config, epochs, steps)
        # At least one epoch of sign training, so there is an epoch to choose.
        self.sign_start = min(epochs - 1, max(1, int(round(0.6 * epochs))))
        first = min(max(1, int(round(0.2 * epochs))), self.sign_start) - 1
        rounds = config.prune_rounds
        span = max(0, self.sign_start - 1 - first)
        self.prune_epochs = sorted({first + (span * r) // max(1, rounds - 1) if rounds > 1
                                    else first for r in range(rounds)}) if rounds else []

    def begin_epoch(self, model, epoch):
        if epoch == self.sign_start:
            for linear in model.ternary_layers():
                linear.signed = True

    def end_epoch(self, model, epoch, run):
        if epoch not in self.prune_epochs:
            return {}, ""
        pruned = sum(linear.prune(self.config.prune_quality) for linear in model.ternary_layers())
        dead = remove_dead_neurons(model)
        kept = sum(int(linear.mask.sum()) for linear in model.ternary_layers())
        return ({"pruned": pruned, "dead_neurons": dead},
                f"pruned {pruned}, {kept} left, {dead} dead neurons")

    def selectable(self, epoch):
        return epoch >= self.sign_start


class DistributionRegimen(Regimen):
    """Weight distributions trained by the probabilistic forward pass, then threshold tuning."""

    weights = "distribution"
    #: The logits learn this many times faster than the other parameters: a logit must move by
    #: several units to make a weight confident, a batch-norm scale by a fraction of one.
    logit_lr_scale = 5.0

    def __init__(self, config, epochs, steps):
        super().__init__(config, epochs, steps)
        self.fix_at = self.finetune_start()
        self.ramp = 0.0

    def penalty(self, model):
        """``distribution_prior * mean KL(q_w || prior)`` over all weights: the prior puts
        ``sparsity`` on 0 and the rest on +-1 evenly, so it pulls each weight's most probable
        value to 0 unless the data pull harder. Its strength ramps up from 0 over the epochs
        before the threshold fine-tuning (KL annealing), so the data shape the distributions
        first."""
        strength = self.config.distribution_prior * self.ramp
        if not strength or model.output.linear.fixed:
            return 0.0
        total, count = 0.0, 0
        for linear, sparsity in zip(model.ternary_layers(), self.config.layer_sparsity()):
            s = min(max(sparsity, 0.01), 0.99)
            log_prior = torch.log(torch.tensor([(1 - s) / 2, s, (1 - s) / 2],
                                               device=linear.logits.device))
            logq = torch.log_softmax(linear.logits, dim=-1)
            total = total + (logq.exp() * (logq - log_prior)).sum()
            count += linear.logits.shape[0] * linear.logits.shape[1]
        return strength * total / count

    def param_groups(self, model, lr):
        logits = [linear.logits for linear in model.ternary_layers()]
        ids = {id(p) for p in logits}
        rest = [p for p in model.parameters() if id(p) not in ids]
        return [{"params": logits, "lr": lr * self.logit_lr_scale}, {"params": rest, "lr": lr}]

    def begin_epoch(self, model, epoch):
        self.ramp = min(1.0, epoch / max(1, self.fix_at - 1))
        if epoch == self.fix_at:
            for linear in model.ternary_layers():
                linear.fix()

    def logits(self, model, x):
        if model.output.linear.fixed:
            return model(x)
        return model.forward_distribution(x, sample=True)



class SampleRegimen(Regimen):
    """Real-valued training, then integer weights by importance sampling (module docstring)."""

    weights = "sampled"

    def __init__(self, config, epochs, steps):
        super().__init__(config, epochs, steps)
        # At least one epoch of real-valued training and one with the sampled net (to choose).
        self.sample_at = max(0, min(max(1, self.finetune_start()), epochs - 1))
        self.drawn = None

    def penalty(self, model):
        """``sample_penalty`` times the Hoyer measure (module docstring), averaged over each
        layer's neurons, then over the layers (the small output layer counts as much as a big
        hidden one: its sampling matters as much), while the weights are still real-valued."""
        strength = self.config.sample_penalty
        if not strength or model.output.linear.fixed:
            return 0.0
        layers = model.ternary_layers()
        total = 0.0
        for linear in layers:
            w = linear.weight
            hoyer = w.abs().sum(dim=1) / (w.norm(dim=1) + 1e-12) / math.sqrt(w.shape[1])
            total = total + hoyer.mean()
        return strength * total / len(layers)

    def _draw(self, model):
        model.output.linear.proportional = True
        samples = []
        for linear in model.ternary_layers():
            linear.samples = self.config.samples
            samples.append(linear.draw())
        return samples

    @torch.no_grad()
    def begin_epoch(self, model, epoch):
        if epoch != self.sample_at:
            return
        self.drawn = self._draw(model)
        out = model.output
        # The output layer's integer scores are its real ones times n_i / sum |w_i| (about the
        # same for every neuron i): alpha and the bias take that factor, the scores stay.
        l1 = out.linear.weight.abs().sum(dim=1)
        n = out.linear.per_neuron(self.drawn[-1])
        factor = float((n / l1.clamp_min(1e-12)).mean()) if len(l1) else 1.0
        if factor > 0:
            out.log_alpha -= math.log(factor)
            out.bias.mul_(factor)
        for linear in model.ternary_layers():
            linear.fix()

    def end_epoch(self, model, epoch, run):
        if epoch < self.sample_at:
            samples = self._draw(model)  # a preview: the zero share shown is a draw's
            return {"samples": samples}, "real-valued (val of the real net)"
        if epoch == self.sample_at:
            return ({"samples": self.drawn},
                    "sampled " + "/".join(map(str, self.drawn)) + " per neuron")
        return {}, ""

    def continuous(self, epoch):
        return epoch < self.sample_at

    def selectable(self, epoch):
        return epoch >= self.sample_at


class PathRegimen(Regimen):
    """Connections sampled as paths before training, then only they train (module docstring)."""

    weights = "paths"

    def __init__(self, config, epochs, steps):
        super().__init__(config, epochs, steps)
        self.fan_in = None

    def prepare(self, model, x, y):
        from .paths import connect

        self.fan_in = connect(model, self.config, x, y)


def make_regimen(config, epochs, steps):
    """The :class:`Regimen` of ``config.method``."""
    kind = {"lwn": LwnRegimen, "ste": SteRegimen, "dropneuron": SteRegimen,
            "prune": PruneRegimen, "distribution": DistributionRegimen,
            "sample": SampleRegimen, "paths": PathRegimen}[config.method]
    return kind(config, epochs, steps)


def snapshot_state(model, optimizer):
    """Deep copies of the model's and the optimizer's state (to roll back to)."""
    return copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())
