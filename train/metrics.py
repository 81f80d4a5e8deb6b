"""Classification metrics for imbalanced data: accuracy, macro F1, G-mean (NumPy only).

For class ``c``: ``precision = TP / (TP + FP)``, ``recall = TP / (TP + FN)``, ``F1 = 2 P R /
(P + R)`` (each 0 when its denominator is 0). ``f1`` is the macro average of the per-class F1 over
the classes present in ``y_true``; ``g_mean`` is the geometric mean of their recalls (for two
classes: ``sqrt(sensitivity * specificity)``), 0 as soon as one class is never recognised.
"""

import numpy as np

__all__ = ["confusion_matrix", "classification_metrics"]


def confusion_matrix(y_true, y_pred, n_classes):
    """``m[t, p]``: the number of samples of true class ``t`` predicted as ``p``."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (y_true, y_pred), 1)
    return m


def _ratio(a, b):
    return np.divide(a, b, out=np.zeros(len(a), dtype=np.float64), where=b > 0)


def classification_metrics(y_true, y_pred, n_classes):
    """``{"accuracy", "f1", "g_mean", "precision", "recall", "f1_per_class", "support"}``.

    The per-class entries are lists in class order; ``support`` counts the true samples of each
    class. All values are plain Python numbers (JSON-ready).
    """
    m = confusion_matrix(y_true, y_pred, n_classes).astype(np.float64)
    tp = np.diag(m)
    support = m.sum(axis=1)
    predicted = m.sum(axis=0)
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    present = support > 0
    total = support.sum()
    if present.any():
        macro_f1 = float(f1[present].mean())
        g_mean = float(np.prod(recall[present]) ** (1.0 / int(present.sum())))
    else:
        macro_f1 = g_mean = 0.0
    return {
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "f1": macro_f1,
        "g_mean": g_mean,
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "f1_per_class": f1.tolist(),
        "support": [int(v) for v in support],
    }
