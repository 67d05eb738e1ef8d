"""The risk model: fit, save in a safe format, load with a type check, score, explain.

A model directory (`models/<version>/`) holds `model.skops` (scikit-learn estimator,
loaded only if every type in it is on the allow-list below: never a bare pickle),
`model.json` (features, reference values for the reasons, metrics), the model card,
its calibration curve and the evaluation.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pipelines.risk import ModelError, trees
from pipelines.risk.features import FEATURES, GROUPS
from vigie.config import MODELS_DIR

CURRENT_FILE = "CURRENT_RISK_MODEL"
log = logging.getLogger(__name__)
_SAFE_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")


def candidates(seed: int = 0) -> dict:
    """The models compared on the validation period (uncalibrated)."""
    return {
        "gradient_boosting": HistGradientBoostingClassifier(
            max_iter=250, learning_rate=0.05, max_leaf_nodes=31, min_samples_leaf=40, l2_regularization=1.0,
            random_state=seed),
        "logistic_regression": make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True), StandardScaler(),
            LogisticRegression(C=0.5, max_iter=3000)),
    }


def fit_calibrated(estimator, train: pd.DataFrame, calibration: pd.DataFrame):
    """Fit on the training period, then calibrate (sigmoid: keeps the order, no ties) on a later one."""
    estimator.fit(train[FEATURES], train["label"])
    calibrated = CalibratedClassifierCV(FrozenEstimator(estimator), method="sigmoid")
    calibrated.fit(calibration[FEATURES], calibration["label"])
    return calibrated


def reference_values(train: pd.DataFrame) -> dict:
    """Per group, the 'typical case' a reason is measured against: the median for a single
    number, the most frequent combination for a group of columns."""
    ref = {}
    for group, cols in GROUPS.items():
        if len(cols) == 1:
            value = train[cols[0]].median()
            ref[group] = [None if pd.isna(value) else float(value)]
        else:
            combo = train[cols].astype(object).where(train[cols].notna(), None).apply(tuple, axis=1).mode().iloc[0]
            ref[group] = [None if v is None else float(v) for v in combo]
    return ref


CHUNK_ROWS = 20_000  # cases per prediction call: the 17 stacked variants of 460 000 cases took 10 GB at once
CHECKED_ROWS = 64    # cases whose compiled figures are checked against scikit-learn's at each call


def _variants(X: np.ndarray, ref: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per case and group, whether the case differs from the typical case there; per feature,
    its typical value and its group's number."""
    differs = np.zeros((len(X), len(GROUPS)), dtype=bool)
    typical, group_of = np.full(len(FEATURES), np.nan), np.full(len(FEATURES), -1, dtype=np.int64)
    for g, (group, cols) in enumerate(GROUPS.items()):
        idx = [FEATURES.index(c) for c in cols]
        typical[idx] = [np.nan if v is None else v for v in ref[group]]
        group_of[idx] = g
        own, typ = X[:, idx], typical[idx]
        differs[:, g] = ~((own == typ) | (np.isnan(own) & np.isnan(typ))).all(axis=1)
    return differs, typical, group_of


def _predicted(model, X: np.ndarray, differs: np.ndarray, typical: np.ndarray, group_of: np.ndarray) -> np.ndarray:
    """scikit-learn's probabilities for the cases (column 0) and, where a case differs from the
    typical case in group g, its variant (column 1 + g; elsewhere the case's own). One call per
    chunk of cases over all the variants stacked (one call costs far less than one per group)."""
    out = np.empty((len(X), differs.shape[1] + 1))
    for start in range(0, len(X), CHUNK_ROWS):
        part, flags = X[start:start + CHUNK_ROWS], differs[start:start + CHUNK_ROWS]
        variants, where = [part], []
        for g in range(flags.shape[1]):
            rows = np.flatnonzero(flags[:, g])
            moved = part[rows]
            moved[:, group_of == g] = typical[group_of == g]
            variants.append(moved)
            where.append(rows)
        p = model.predict_proba(pd.DataFrame(np.vstack(variants), columns=FEATURES))[:, 1]
        block, offset = np.repeat(p[:len(part), None], flags.shape[1] + 1, axis=1), len(part)
        for g, rows in enumerate(where):
            block[rows, 1 + g] = p[offset:offset + len(rows)]
            offset += len(rows)
        out[start:start + len(part)] = block
    return out


def contributions(model, frame: pd.DataFrame, ref: dict) -> tuple[np.ndarray, pd.DataFrame]:
    """The score, and how much each group of features raised it for this case: the score
    minus the score with that group set to the typical case's values (0 where the case has
    the typical values). Boosted trees are walked once per case by the compiled walk
    (`pipelines.risk.trees`), whose figures are first checked equal to scikit-learn's on
    the first cases; any other model, or a failed check, is predicted by scikit-learn."""
    X = frame[FEATURES].to_numpy(dtype=float)
    if not len(X):
        return np.empty(0), pd.DataFrame(np.zeros((0, len(GROUPS))), columns=list(GROUPS), index=frame.index)
    differs, typical, group_of = _variants(X, ref)
    compiled = trees.compile_model(model)
    p = None
    if compiled is not None:
        p = trees.scores_and_variants(compiled, X, differs, typical, group_of)
        head = slice(0, CHECKED_ROWS)
        if not np.array_equal(p[head], _predicted(model, X[head], differs[head], typical, group_of)):
            log.warning("arbres compilés en désaccord avec scikit-learn : scores calculés par scikit-learn")
            p = None
    if p is None:
        p = _predicted(model, X, differs, typical, group_of)
    pushes = np.where(differs, p[:, :1] - p[:, 1:], 0.0)
    return p[:, 0], pd.DataFrame(pushes, columns=list(GROUPS), index=frame.index)


def save(model, meta: dict, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    sio.dump(model, folder / "model.skops")
    (folder / "model.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False, default=str), encoding="utf-8")


def models_dir() -> Path:
    env = os.environ.get("VIGIE_MODELS_DIR")
    return Path(env) if env else MODELS_DIR


def current_version(folder: Path | None = None) -> str | None:
    pointer = (folder or models_dir()) / CURRENT_FILE
    return pointer.read_text(encoding="utf-8").strip() or None if pointer.exists() else None


def set_current(version: str, folder: Path | None = None) -> None:
    (folder or models_dir()).joinpath(CURRENT_FILE).write_text(version + "\n", encoding="utf-8")


def load(version: str | None = None, folder: Path | None = None):
    """(estimator, meta) of a version (default: the current one), or None when there is none."""
    folder = folder or models_dir()
    version = version or current_version(folder)
    if not version:
        return None
    path = folder / version / "model.skops"
    if not path.exists():
        raise ModelError(f"modèle {version} introuvable ({path}) : relancez `vigie train`")
    untrusted = sio.get_untrusted_types(file=path)
    unsafe = [t for t in untrusted if not t.startswith(_SAFE_PREFIXES)]
    if unsafe:
        raise ModelError(f"le modèle {path} contient des types non autorisés ({', '.join(unsafe[:3])}) : "
                         "il n'est pas chargé ; réentraînez-le avec `vigie train`")
    model = sio.load(path, trusted=untrusted)
    meta = json.loads((folder / version / "model.json").read_text(encoding="utf-8"))
    return model, meta
