#!/usr/bin/python3
"""GPTQ in NumPy: the independent reference for dartgolf's C++ GPTQ (src/quant/gptq.*).

  gptq_reference.py --dir D --rows R --cols C --qmax Q [--damping 0.01] [--block 128] [--act-order 1]

reads D/w.f32 (R x C, row-major float32), D/h.f64 (C x C float64, the Hessian sum of x^T x) and
D/scales.f32 (R float32, the fixed per-row scale) and writes D/q.i8 (R x C int8) and
D/meta.json ({"dead_columns": ..., "hessian_error": ...}).

Written from the paper (Frantar et al. 2022, Algorithm 1) and the challenge's GPTQ records, not from
the C++: the inverse comes from numpy.linalg.inv (the C++ uses LAPACK's potri), the error update is
vectorized over rows, and the rounding is numpy's half-to-even np.rint. Same damping rule
(lambda = damping * mean(diag H)), same column order (descending diag H, stable), same blocks.
Run it with Debian's /usr/bin/python3 (python3-numpy).
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np


def gptq(w: np.ndarray, h: np.ndarray, scales: np.ndarray, qmax: int, damping: float, block: int,
         act_order: bool) -> tuple[np.ndarray, int]:
    rows, cols = w.shape
    w = w.astype(np.float64).copy()
    h = h.astype(np.float64).copy()
    s = scales.astype(np.float64)[:, None]

    dead = np.diag(h) == 0.0
    h[dead, dead] = 1.0
    w[:, dead] = 0.0

    perm = np.argsort(-np.diag(h), kind="stable") if act_order else np.arange(cols)
    w = w[:, perm]
    h = h[np.ix_(perm, perm)]
    h[np.diag_indices(cols)] += damping * np.mean(np.diag(h))

    # Upper factor U of H^-1 = U^T U: numpy's cholesky gives the lower L = U^T.
    u = np.linalg.cholesky(np.linalg.inv(h)).T

    q = np.zeros((rows, cols), dtype=np.float64)
    for start in range(0, cols, block):
        stop = min(start + block, cols)
        errors = np.zeros((rows, stop - start))
        for i in range(start, stop):
            column = w[:, i:i + 1]
            qi = np.clip(np.rint(column / s), -qmax, qmax)
            q[:, i:i + 1] = qi
            e = (column - qi * s) / u[i, i]
            w[:, i + 1:stop] -= e * u[i, i + 1:stop][None, :]
            errors[:, i - start] = e[:, 0]
        w[:, stop:] -= errors @ u[start:stop, stop:]

    out = np.empty_like(q)
    out[:, perm] = q
    return out.astype(np.int8), int(dead.sum())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dir", required=True)
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--cols", type=int, required=True)
    p.add_argument("--qmax", type=int, required=True)
    p.add_argument("--damping", type=float, default=0.01)
    p.add_argument("--block", type=int, default=128)
    p.add_argument("--act-order", type=int, default=1)
    a = p.parse_args()
    w = np.fromfile(os.path.join(a.dir, "w.f32"), dtype="<f4").reshape(a.rows, a.cols)
    h = np.fromfile(os.path.join(a.dir, "h.f64"), dtype="<f8").reshape(a.cols, a.cols)
    scales = np.fromfile(os.path.join(a.dir, "scales.f32"), dtype="<f4")
    assert scales.shape == (a.rows,), scales.shape
    q, dead = gptq(w, h, scales, a.qmax, a.damping, a.block, bool(a.act_order))
    q.tofile(os.path.join(a.dir, "q.i8"))
    dw = w.astype(np.float64) - q.astype(np.float64) * scales.astype(np.float64)[:, None]
    with open(os.path.join(a.dir, "meta.json"), "w") as f:
        json.dump({"dead_columns": dead, "hessian_error": float(np.sum((dw @ h) * dw))}, f)


if __name__ == "__main__":
    main()
