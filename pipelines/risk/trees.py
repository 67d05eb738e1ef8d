"""A case's score and the score of each of its variants (one group of features set to the
typical case's values) in one walk of the boosted trees, compiled by numba.

The reasons need, per open case, about ten variants besides the case itself; predicting each
with scikit-learn walks every tree for every variant (about 2 600 tree walks a case for the
shipped 250 trees). Here each tree is walked once for the case; a variant leaves the case's
path only at a node that splits on one of its group's features where the typical value goes
the other way (about 320 such nodes a case on the M city), and only from there is the
rest of its path walked. Leaves are added up in scikit-learn's order (baseline, then tree
after tree) and the calibration is scikit-learn's own: the raw scores, hence the
probabilities, are bit-for-bit those of `predict_proba`, which `compile_model` checks on a
sample of each call's rows before its figures are used.

Only a sigmoid-calibrated `HistGradientBoostingClassifier` (binary, numeric splits) is
compiled; any other model (the logistic regression candidate) is predicted by scikit-learn.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange


@dataclass(frozen=True)
class CompiledTrees:
    feature: np.ndarray    # int32 per node; -1 for a leaf
    threshold: np.ndarray  # float64 per node: the split threshold, or the leaf's value
    child: np.ndarray      # int32 per node: its left child; the right one is next to it
    nan_right: np.ndarray  # bool per node: a missing value goes right
    roots: np.ndarray      # int64 per tree
    baseline: float
    calibrator: object     # scikit-learn's sigmoid calibrator, applied to the raw scores


def _boosted_parts(model):
    """(the boosting estimator, its calibrator) when `model` is of the compiled kind, else None."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.frozen import FrozenEstimator

    if not isinstance(model, CalibratedClassifierCV) or model.method != "sigmoid" \
            or len(getattr(model, "calibrated_classifiers_", [])) != 1:
        return None
    calibrated = model.calibrated_classifiers_[0]
    est = calibrated.estimator
    est = est.estimator if isinstance(est, FrozenEstimator) else est
    if not isinstance(est, HistGradientBoostingClassifier) or est.n_trees_per_iteration_ != 1 \
            or len(calibrated.calibrators) != 1 or est.is_categorical_ is not None:
        return None
    return est, calibrated.calibrators[0]


def compile_model(model) -> CompiledTrees | None:
    """The model's trees laid out for the walk (children side by side), or None when the
    model is not a calibrated binary boosting of numeric splits."""
    parts = _boosted_parts(model)
    if parts is None:
        return None
    est, calibrator = parts
    feature, threshold, child, nan_right, roots = [], [], [], [], []
    for (predictor,) in est._predictors:
        nodes = predictor.nodes
        if nodes["is_categorical"].any():
            return None
        start = len(feature)
        roots.append(start)
        order, first_child = [0], {}
        for old in order:  # breadth first; each split's two children placed side by side
            if not nodes["is_leaf"][old]:
                first_child[old] = start + len(order)
                order += [int(nodes["left"][old]), int(nodes["right"][old])]
        for old in order:
            leaf = bool(nodes["is_leaf"][old])
            feature.append(-1 if leaf else int(nodes["feature_idx"][old]))
            threshold.append(nodes["value"][old] if leaf else nodes["num_threshold"][old])
            child.append(0 if leaf else first_child[old])
            nan_right.append(False if leaf else not nodes["missing_go_to_left"][old])
    return CompiledTrees(np.array(feature, np.int32), np.array(threshold, np.float64), np.array(child, np.int32),
                         np.array(nan_right, np.bool_), np.array(roots, np.int64),
                         float(np.ravel(est._baseline_prediction)[0]), calibrator)


@njit(parallel=True, cache=True)
def _walk(X, differs, typical, group_of, feature, threshold, child, nan_right, roots, baseline, out):
    n, groups = X.shape[0], differs.shape[1]
    for i in prange(n):
        acc = np.empty(groups + 1, np.float64)
        flip_group = np.empty(groups, np.int64)
        flip_node = np.empty(groups, np.int64)
        leaf_of = np.empty(groups, np.float64)
        for k in range(groups + 1):
            acc[k] = baseline
        for t in range(roots.shape[0]):
            node, flipped, flips = roots[t], np.int64(0), 0
            f = feature[node]
            while f >= 0:
                v = X[i, f]
                right = v > threshold[node] or (v != v and nan_right[node])
                g = group_of[f]
                if g >= 0 and differs[i, g] and not (flipped >> g) & 1:
                    w = typical[f]
                    if (w > threshold[node] or (w != w and nan_right[node])) != right:
                        # the variant of group g leaves the case's path here
                        flipped |= np.int64(1) << g
                        flip_group[flips] = g
                        flip_node[flips] = child[node] + (0 if right else 1)
                        flips += 1
                node = child[node] + (1 if right else 0)
                f = feature[node]
            leaf = threshold[node]
            acc[0] += leaf
            for g in range(groups):
                leaf_of[g] = leaf
            for q in range(flips):
                g, m = flip_group[q], flip_node[q]
                f = feature[m]
                while f >= 0:
                    v = typical[f] if group_of[f] == g else X[i, f]
                    m = child[m] + (1 if (v > threshold[m] or (v != v and nan_right[m])) else 0)
                    f = feature[m]
                leaf_of[g] = threshold[m]
            for g in range(groups):
                acc[1 + g] += leaf_of[g]
        for k in range(groups + 1):
            out[i, k] = acc[k]


def scores_and_variants(trees: CompiledTrees, X: np.ndarray, differs: np.ndarray, typical: np.ndarray,
                        group_of: np.ndarray) -> np.ndarray:
    """Probabilities: column 0 the case's, column 1 + g its variant with group g set to the
    typical values (`typical` per feature; `group_of` a feature's group, -1 for none)."""
    out = np.empty((len(X), differs.shape[1] + 1))
    _walk(np.ascontiguousarray(X, dtype=np.float64), np.ascontiguousarray(differs), typical, group_of,
          trees.feature, trees.threshold, trees.child, trees.nan_right, trees.roots, trees.baseline, out)
    return trees.calibrator.predict(out.ravel()).reshape(out.shape)
