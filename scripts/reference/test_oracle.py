#!/usr/bin/python3
"""Self-test of the reference oracle: `/usr/bin/python3 scripts/reference/test_oracle.py`.

Checks the safetensors reader/writer, the model against a naive NumPy re-implementation written
separately below, causality, gradients against finite differences (fp64), the CLI's file contract,
and the optimizers (Muon's orthogonalisation, first-step updates, loss going down); the same for
DART (the PR's parameter count and names, B > 1 layout, DIFF and DIFF V2, memory tokens, deep
supervision, --loops, the fake quant's rule and straight-through gradient, the PR's optimizer split);
and the pluggable blocks (τ-fusion, DAAM, head gate) against NumPy loops, finite differences,
per-token independence, the τ-fusion init rule, and the `block` subcommand's file contract; and
DART with blocks at its use sites (DartBlocksReferenceTest): the `blocks` setting and its errors,
tensor names and strict loading, causality, the step-0 equivalences, the skip and loop-output
streams, gradcheck with every site in use, the optimizer split, and the oracle CLI.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import unittest

try:
    import numpy as np
    import torch
except ImportError as missing:  # ctest reads exit code 77 as "skipped"
    print(f"SKIPPED: {missing} (install Debian's python3-torch and python3-numpy)")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from dart_reference import QAT_CLIP_QUANTILE, DARTConfig, DARTReference, fake_quant_per_row  # noqa: E402
from gpt_reference import CHECKPOINT_FORMAT, GPTConfig, GPTReference, load_checkpoint  # noqa: E402
from make_fixture import (  # noqa: E402
    config_json,
    dart_fixture_config,
    fixture_config,
    random_batch,
    random_dart_model,
    random_model,
    write_batch,
    write_checkpoint,
)
from optim_reference import Muon, build_optimizers, newton_schulz5  # noqa: E402
from oracle import main as oracle_main  # noqa: E402
from safetensors_io import SafetensorsError, read_safetensors, write_safetensors  # noqa: E402

ORACLE = os.path.join(HERE, "oracle.py")


def naive_per_token_loss(params, cfg: GPTConfig, ids: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The baseline GPT with loops over rows, positions and heads, in float64 NumPy.

    Deliberately shares no code with gpt_reference.py; rotary angles are computed in float64."""
    P = {k: v.detach().double().numpy() for k, v in params.items()}
    d, H, K = cfg.model_dim, cfg.num_heads, cfg.num_kv_heads
    hd = d // H
    eps = float(np.finfo(np.float32).eps)

    def norm(v):
        return v / np.sqrt(np.mean(v * v) + eps)

    def rope(vec, pos):
        half = hd // 2
        out = np.empty_like(vec)
        for j in range(half):
            angle = pos * cfg.rope_base ** (-2.0 * j / hd)
            c, s = math.cos(angle), math.sin(angle)
            out[j] = vec[j] * c + vec[half + j] * s
            out[half + j] = -vec[j] * s + vec[half + j] * c
        return out

    def block(i, xs, x0s):
        pre = f"blocks.{i}."
        mix = P[pre + "resid_mix"]
        xs = [mix[0] * x + mix[1] * x0 for x, x0 in zip(xs, x0s)]
        T = len(xs)
        q = [[None] * H for _ in range(T)]
        k = [[None] * K for _ in range(T)]
        v = [[None] * K for _ in range(T)]
        for t in range(T):
            h_in = norm(xs[t])
            qt = P[pre + "attn.c_q.weight"] @ h_in
            kt = P[pre + "attn.c_k.weight"] @ h_in
            vt = P[pre + "attn.c_v.weight"] @ h_in
            for h in range(H):
                q[t][h] = rope(norm(qt[h * hd : (h + 1) * hd]), t) * P[pre + "attn.q_gain"][h]
            for g in range(K):
                k[t][g] = rope(norm(kt[g * hd : (g + 1) * hd]), t)
                v[t][g] = vt[g * hd : (g + 1) * hd]
        out = []
        for t in range(T):
            heads = []
            for h in range(H):
                g = h // (H // K)
                scores = np.array([q[t][h] @ k[s][g] / math.sqrt(hd) for s in range(t + 1)])
                w = np.exp(scores - scores.max())
                w /= w.sum()
                heads.append(sum(w[s] * v[s][g] for s in range(t + 1)))
            attn = P[pre + "attn.proj.weight"] @ np.concatenate(heads)
            x = xs[t] + P[pre + "attn_scale"] * attn
            hidden = np.maximum(P[pre + "mlp.fc.weight"] @ norm(x), 0.0) ** 2
            x = x + P[pre + "mlp_scale"] * (P[pre + "mlp.proj.weight"] @ hidden)
            out.append(x)
        return out

    losses = []
    head = P["tok_emb.weight"] if cfg.tie_embeddings else P["lm_head.weight"]
    for row in range(ids.shape[0]):
        x0s = [norm(P["tok_emb.weight"][tok]) for tok in ids[row]]
        xs = list(x0s)
        n_enc = cfg.num_layers // 2
        stack = []
        for i in range(cfg.num_layers):
            if i >= n_enc and stack:
                w = P["skip_weights"][i - n_enc]
                skip = stack.pop()
                xs = [x + w * s for x, s in zip(xs, skip)]
            xs = block(i, xs, x0s)
            if i < n_enc:
                stack.append(xs)
        for t, x in enumerate(xs):
            z = head @ norm(x)
            logits = cfg.logit_softcap * np.tanh(z / cfg.logit_softcap)
            m = logits.max()
            losses.append(m + math.log(np.exp(logits - m).sum()) - logits[targets[row, t]])
    return np.array(losses)


def run_cli(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True)


class SafetensorsTest(unittest.TestCase):
    def test_round_trip_every_dtype_and_metadata(self):
        gen = torch.Generator().manual_seed(0)
        tensors = {
            "f32": torch.randn(3, 5, generator=gen),
            "f64": torch.randn(4, generator=gen, dtype=torch.float64),
            "f16": torch.randn(2, 3, generator=gen).half(),
            "bf16": torch.randn(7, generator=gen).bfloat16(),
            "i32": torch.tensor([[1, -2], [3, 2**31 - 1]], dtype=torch.int32),
            "i64": torch.tensor([-(2**40), 5], dtype=torch.int64),
            "u16": np.array([0, 1, 65535, 40000], dtype=np.uint16),
            "empty": torch.zeros(0, 32),
        }
        meta = {"format": "x", "config": json.dumps({"a": 1})}
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "t.safetensors")
            write_safetensors(path, tensors, meta)
            with open(path, "rb") as f:
                blob = f.read()
            (header_len,) = struct.unpack("<Q", blob[:8])
            self.assertEqual(header_len % 8, 0, "data section must start 8-byte aligned")
            header = json.loads(blob[8 : 8 + header_len])
            self.assertEqual(header["f32"]["dtype"], "F32")
            self.assertEqual(header["u16"]["dtype"], "U16")
            self.assertEqual(header["bf16"]["dtype"], "BF16")
            # F32 bytes are raw little-endian floats at the recorded offset.
            begin, end = header["f32"]["data_offsets"]
            raw = np.frombuffer(blob[8 + header_len + begin : 8 + header_len + end], dtype="<f4")
            np.testing.assert_array_equal(raw, tensors["f32"].numpy().ravel())

            back, back_meta = read_safetensors(path)
        self.assertEqual(back_meta, meta)
        self.assertEqual(set(back), set(tensors))
        for name in ("f32", "f64", "f16", "i32", "i64"):
            self.assertEqual(back[name].dtype, tensors[name].dtype, name)
            self.assertTrue(torch.equal(back[name], tensors[name]), name)
        self.assertEqual(back["bf16"].dtype, torch.float32)
        self.assertTrue(torch.equal(back["bf16"], tensors["bf16"].float()))
        self.assertEqual(back["u16"].tolist(), [0, 1, 65535, 40000])
        self.assertEqual(tuple(back["empty"].shape), (0, 32))

    def test_malformed_files_are_rejected_with_the_tensor_named(self):
        with tempfile.TemporaryDirectory() as tmp:
            good = os.path.join(tmp, "good.safetensors")
            write_safetensors(good, {"a": torch.ones(4), "b": torch.ones(2)})
            with open(good, "rb") as f:
                blob = f.read()
            (n,) = struct.unpack("<Q", blob[:8])
            header = json.loads(blob[8 : 8 + n])

            def write_variant(name, new_header=None, data=None, raw_prefix=None):
                path = os.path.join(tmp, name)
                text = json.dumps(new_header if new_header is not None else header).encode()
                body = data if data is not None else blob[8 + n :]
                with open(path, "wb") as f:
                    f.write(raw_prefix if raw_prefix is not None else struct.pack("<Q", len(text)) + text + body)
                return path

            with self.assertRaisesRegex(SafetensorsError, "too short"):
                read_safetensors(write_variant("short", raw_prefix=b"\x01\x00"))
            with self.assertRaisesRegex(SafetensorsError, "does not fit"):
                read_safetensors(write_variant("len", raw_prefix=struct.pack("<Q", 10**6) + b"{}"))
            overlap = json.loads(json.dumps(header))
            overlap["b"]["data_offsets"] = [8, 16]
            with self.assertRaisesRegex(SafetensorsError, "gap or overlap"):
                read_safetensors(write_variant("overlap", overlap))
            bad_shape = json.loads(json.dumps(header))
            bad_shape["a"]["shape"] = [5]
            with self.assertRaisesRegex(SafetensorsError, "'a'.*needs 20"):
                read_safetensors(write_variant("shape", bad_shape))
            with self.assertRaisesRegex(SafetensorsError, "unclaimed"):
                read_safetensors(write_variant("trailing", data=blob[8 + n :] + b"\0\0\0\0"))


class ModelTest(unittest.TestCase):
    def setUp(self):
        self.config = fixture_config({"num_layers": 3, "vocab_size": 40, "model_dim": 16})
        self.model = random_model(self.config, seed=7).double()
        self.ids, self.targets = random_batch(self.config.vocab_size, 2, 6, seed=8)

    def test_matches_naive_recomputation(self):
        for tie in (True, False):
            # 5 layers: two skips, popped in reverse order.
            cfg = fixture_config({"num_layers": 5, "vocab_size": 40, "model_dim": 16, "tie_embeddings": tie})
            model = random_model(cfg, seed=11)
            model.rope_dtype = torch.float64
            model = model.double()
            with torch.no_grad():
                loss, per_token, logits = model(self.ids, self.targets)
            expected = naive_per_token_loss(dict(model.named_parameters()), cfg, self.ids.numpy(), self.targets.numpy())
            np.testing.assert_allclose(per_token.numpy(), expected, rtol=1e-12, atol=1e-12)
            self.assertAlmostEqual(float(loss), float(expected.mean()), places=12)
            self.assertEqual(tuple(logits.shape), (12, cfg.vocab_size))
            self.assertLessEqual(float(logits.abs().max()), cfg.logit_softcap)

    def test_fp32_rope_tables_change_results_only_by_rounding(self):
        with torch.no_grad():
            _, fp32_tables, _ = self.model(self.ids, self.targets)
            self.model.rope_dtype = torch.float64
            _, fp64_tables, _ = self.model(self.ids, self.targets)
        np.testing.assert_allclose(fp32_tables.numpy(), fp64_tables.numpy(), rtol=1e-5)

    def test_causal(self):
        changed = self.ids.clone()
        changed[:, -1] = (changed[:, -1] + 1) % self.config.vocab_size
        changed[0, 3] = (changed[0, 3] + 5) % self.config.vocab_size
        with torch.no_grad():
            _, before, _ = self.model(self.ids, self.targets)
            _, after, _ = self.model(changed, self.targets)
        before, after = before.view(2, 6), after.view(2, 6)
        self.assertTrue(torch.equal(before[0, :3], after[0, :3]))
        self.assertTrue(torch.equal(before[1, :5], after[1, :5]))
        self.assertFalse(torch.equal(before[0, 3:], after[0, 3:]))
        self.assertFalse(torch.equal(before[1, 5], after[1, 5]))

    def test_gradients_match_finite_differences(self):
        for tie in (True, False):
            cfg = fixture_config({"num_layers": 3, "vocab_size": 40, "model_dim": 16, "tie_embeddings": tie})
            model = random_model(cfg, seed=21).double()
            loss, _, _ = model(self.ids, self.targets)
            loss.backward()
            gen = torch.Generator().manual_seed(5)
            h = 1e-6
            for name, p in model.named_parameters():
                self.assertIsNotNone(p.grad, name)
                self.assertGreater(float(p.grad.abs().max()), 0.0, f"{name} has an all-zero gradient")
                flat, grad = p.data.view(-1), p.grad.view(-1)
                for index in torch.randint(0, flat.numel(), (3,), generator=gen).tolist():
                    original = float(flat[index])
                    with torch.no_grad():
                        flat[index] = original + h
                        up = float(model(self.ids, self.targets)[0])
                        flat[index] = original - h
                        down = float(model(self.ids, self.targets)[0])
                        flat[index] = original
                    numeric = (up - down) / (2 * h)
                    analytic = float(grad[index])
                    self.assertLess(
                        abs(numeric - analytic),
                        1e-7 + 1e-5 * abs(analytic),
                        f"tie={tie} {name}[{index}]: autograd {analytic:.10g} vs finite difference {numeric:.10g}",
                    )

    def test_parameter_names_follow_train_gpt_state_dict(self):
        names = set(dict(self.model.named_parameters()))
        expected = {"tok_emb.weight", "skip_weights"}
        for i in range(3):
            for suffix in ("attn_scale", "mlp_scale", "resid_mix", "attn.q_gain", "attn.c_q.weight", "attn.c_k.weight",
                           "attn.c_v.weight", "attn.proj.weight", "mlp.fc.weight", "mlp.proj.weight"):
                expected.add(f"blocks.{i}.{suffix}")
        self.assertEqual(names, expected)
        shapes = {n: tuple(p.shape) for n, p in self.model.named_parameters()}
        self.assertEqual(shapes["skip_weights"], (1, 16))
        self.assertEqual(shapes["blocks.0.attn.c_k.weight"], (8, 16))  # 2 KV heads x head_dim 4
        self.assertEqual(shapes["blocks.0.resid_mix"], (2, 16))
        self.assertEqual(shapes["blocks.0.mlp.fc.weight"], (32, 16))

    def test_challenge_default_config_has_the_challenge_parameter_count(self):
        # train_gpt.py's baseline: 17,059,912 parameters.
        model = GPTReference(GPTConfig())
        self.assertEqual(sum(p.numel() for p in model.parameters()), 17_059_912)


class CheckpointTest(unittest.TestCase):
    def test_strict_loading_lists_missing_unexpected_and_misshapen(self):
        cfg = fixture_config()
        model = random_model(cfg, seed=1)
        tensors = {n: p.detach().clone() for n, p in model.named_parameters()}
        del tensors["blocks.1.mlp.fc.weight"]
        tensors["blocks.9.extra"] = torch.zeros(3)
        tensors["blocks.0.attn.c_k.weight"] = torch.zeros(32, 32)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "c.safetensors")
            write_safetensors(path, tensors, {"format": CHECKPOINT_FORMAT, "config": config_json(cfg)})
            with self.assertRaises(ValueError) as ctx:
                load_checkpoint(path)
        message = str(ctx.exception)
        self.assertIn("missing: blocks.1.mlp.fc.weight", message)
        self.assertIn("unexpected: blocks.9.extra", message)
        self.assertIn("blocks.0.attn.c_k.weight: file [32, 32] vs model [16, 32]", message)

    def test_config_errors(self):
        with self.assertRaisesRegex(ValueError, "only 'gpt'"):
            GPTConfig.from_dict({"model": "dart"})
        with self.assertRaisesRegex(ValueError, "divisible by num_kv_heads"):
            GPTConfig.from_dict({"NUM_HEADS": 8, "num_kv_heads": 3})
        cfg = GPTConfig.from_dict({"tie_embeddings": "0", "num_layers": 4.0, "unrelated_key": [1]})
        self.assertFalse(cfg.tie_embeddings)
        self.assertEqual(cfg.num_layers, 4)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "c.safetensors")
            write_safetensors(path, {"x": torch.zeros(1)}, {"format": CHECKPOINT_FORMAT})
            with self.assertRaisesRegex(ValueError, "no 'config'"):
                load_checkpoint(path)


class OptimizerTest(unittest.TestCase):
    def test_newton_schulz_orthogonalises_a_known_matrix(self):
        gen = torch.Generator().manual_seed(3)
        u, _ = torch.linalg.qr(torch.randn(8, 4, generator=gen, dtype=torch.float64))
        v, _ = torch.linalg.qr(torch.randn(4, 4, generator=gen, dtype=torch.float64))
        singular = torch.tensor([3.0, 2.0, 1.0, 0.5], dtype=torch.float64)
        g = u @ torch.diag(singular) @ v.t()
        for matrix in (g, g.t()):
            out = newton_schulz5(matrix, 5)
            self.assertEqual(out.shape, matrix.shape)
            s = torch.linalg.svdvals(out)
            self.assertGreater(float(s.min()), 0.6)
            self.assertLess(float(s.max()), 1.25)
        # Same singular vectors, singular values pushed towards one: u^T out v is diagonal.
        core = u.t() @ newton_schulz5(g, 5) @ v
        off_diagonal = core - torch.diag(torch.diagonal(core))
        self.assertLess(float(off_diagonal.abs().max()), 1e-10)
        self.assertTrue(bool((torch.diagonal(core) > 0.6).all()))

    def test_muon_two_steps_use_nesterov_momentum(self):
        gen = torch.Generator().manual_seed(4)
        start = torch.randn(6, 3, generator=gen, dtype=torch.float64)
        g1, g2 = (torch.randn(6, 3, generator=gen, dtype=torch.float64) for _ in range(2))
        p = torch.nn.Parameter(start.clone())
        muon = Muon([p], lr=0.1, momentum=0.9, backend_steps=5)
        for g in (g1, g2):
            p.grad = g.clone()
            muon.step()
        buffer = 0.9 * g1 + g2
        scale = 0.1 * 2**0.5  # max(1, 6/3)^0.5
        expected = start - scale * newton_schulz5(1.9 * g1, 5) - scale * newton_schulz5(g2 + 0.9 * buffer, 5)
        np.testing.assert_allclose(p.detach().numpy(), expected.numpy(), rtol=1e-12, atol=1e-12)

    def test_momentum_warmup(self):
        model = GPTReference(fixture_config())
        optim = build_optimizers(model)
        self.assertAlmostEqual(optim.muon_momentum(0), 0.85)
        self.assertAlmostEqual(optim.muon_momentum(250), 0.90)
        self.assertAlmostEqual(optim.muon_momentum(500), 0.95)
        self.assertAlmostEqual(optim.muon_momentum(5000), 0.95)
        groups = {}
        for opt in optim.optimizers:
            for group in opt.param_groups:
                for p in group["params"]:
                    groups[id(p)] = (type(opt).__name__, group["lr"])
        named = dict(model.named_parameters())
        self.assertEqual(groups[id(named["tok_emb.weight"])], ("Adam", 0.05))
        self.assertEqual(groups[id(named["blocks.0.attn.c_q.weight"])], ("Muon", 0.04))
        self.assertEqual(groups[id(named["blocks.0.resid_mix"])], ("Adam", 0.04))
        self.assertEqual(groups[id(named["skip_weights"])], ("Adam", 0.04))
        self.assertEqual(len(groups), len(named), "every parameter is in exactly one optimizer")


class OracleCliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.ckpt = os.path.join(cls.tmp.name, "c.safetensors")
        cls.batch = os.path.join(cls.tmp.name, "b.safetensors")
        cls.model = random_model(fixture_config(), seed=31)
        cls.ids, cls.targets = random_batch(64, 2, 16, seed=32)
        write_checkpoint(cls.ckpt, cls.model)
        write_batch(cls.batch, cls.ids, cls.targets)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def oracle(self, *args, subprocess_run=False):
        """Runs the CLI: in this process by default (importing torch again per run is slow), or as
        the C++ tests do, as a separate /usr/bin/python3 process."""
        out = os.path.join(self.tmp.name, f"out-{len(os.listdir(self.tmp.name))}.safetensors")
        argv = [*args, "--checkpoint", self.ckpt, "--batch", self.batch, "--out", out]
        if subprocess_run:
            result = run_cli(ORACLE, *argv)
            self.assertEqual(result.returncode, 0, result.stderr)
        else:
            self.assertEqual(oracle_main(argv), 0)
        return read_safetensors(out)[0]

    def test_grads_contract(self):
        out = self.oracle("grads", subprocess_run=True)
        params = dict(self.model.named_parameters())
        expected = {"loss", "per_token_loss", "logits"} | {f"grad.{n}" for n in params}
        self.assertEqual(set(out), expected)
        self.assertEqual(tuple(out["loss"].shape), (1,))
        self.assertEqual(tuple(out["per_token_loss"].shape), (32,))
        self.assertEqual(tuple(out["logits"].shape), (32, 64))
        for name, p in params.items():
            self.assertEqual(out[f"grad.{name}"].dtype, torch.float32)
            self.assertEqual(out[f"grad.{name}"].shape, p.shape)
        self.assertAlmostEqual(float(out["loss"]), float(out["per_token_loss"].mean()), places=5)
        logits = out["logits"].double()
        recomputed = torch.logsumexp(logits, -1) - logits.gather(1, self.targets.long().view(-1, 1)).squeeze(1)
        np.testing.assert_allclose(out["per_token_loss"].numpy(), recomputed.numpy(), rtol=1e-5, atol=1e-5)

        out64 = self.oracle("grads", "--float64")
        for name in expected:
            scale = float(out64[name].abs().max())
            diff = float((out[name] - out64[name]).abs().max())
            self.assertLess(diff, 1e-4 * max(scale, 1.0), name)

    def test_steps_reduce_loss_and_apply_the_first_updates_exactly(self):
        grads = self.oracle("grads", "--float64")
        one = self.oracle("steps", "--steps", "1", "--float64")
        self.assertEqual(set(one), set(dict(self.model.named_parameters())) | {"loss.0"})
        self.assertAlmostEqual(float(one["loss.0"]), float(grads["loss"]), places=5)
        before = dict(self.model.named_parameters())

        # Muon, first step: buffer = g, direction = g + 0.85 g; scaled by max(1, rows/cols)^0.5.
        for name in ("blocks.0.attn.c_q.weight", "blocks.1.mlp.fc.weight", "blocks.2.mlp.proj.weight"):
            g = grads[f"grad.{name}"].double()
            rows, cols = g.shape
            expected = before[name].detach().double() - 0.04 * max(1, rows / cols) ** 0.5 * newton_schulz5(1.85 * g, 5)
            np.testing.assert_allclose(one[name].numpy(), expected.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
        # Adam, first step: bias-corrected m/sqrt(v) = sign(g) (up to eps), times the group lr.
        for name, lr in (("tok_emb.weight", 0.05), ("blocks.1.resid_mix", 0.04), ("skip_weights", 0.04)):
            g = grads[f"grad.{name}"].double()
            expected = before[name].detach().double() - lr * g / (g.abs() + 1e-8)
            np.testing.assert_allclose(one[name].numpy(), expected.numpy(), rtol=1e-5, atol=2e-6, err_msg=name)

        many = self.oracle("steps", "--steps", "8")
        losses = [float(many[f"loss.{k}"]) for k in range(8)]
        self.assertAlmostEqual(losses[0], float(grads["loss"]), places=4)
        self.assertLess(losses[-1], 0.7 * losses[0], f"losses {losses}")
        damped = self.oracle("steps", "--steps", "8", "--lr-mul", "0.1")
        self.assertGreater(float(damped["loss.7"]), losses[-1], "a smaller lr multiplier learns less")

    def test_bad_batch_is_a_clear_error(self):
        bad = os.path.join(self.tmp.name, "bad.safetensors")
        write_safetensors(bad, {"input_ids": torch.zeros(2, 4, dtype=torch.int32)})
        result = run_cli(ORACLE, "grads", "--checkpoint", self.ckpt, "--batch", bad, "--out", bad + ".out")
        self.assertEqual(result.returncode, 2)
        self.assertIn("target_ids", result.stderr)
        self.assertFalse(os.path.exists(bad + ".out"))


# ---------------------------------------------------------------------------------------------
# DART
# ---------------------------------------------------------------------------------------------


def naive_dart_loop_losses(params, cfg: DARTConfig, ids: np.ndarray, targets: np.ndarray, loops=None):
    """DART with loops over rows, positions and heads, in float64 NumPy: a list (one per loop) of
    per-token losses [B*T]. Shares no code with dart_reference.py; rotary angles in float64, the
    fake quant's clip from NumPy's quantile."""
    P = {k: v.detach().double().numpy() for k, v in params.items()}
    d, H, K, M = cfg.model_dim, cfg.num_heads, cfg.num_kv_heads, cfg.num_memory_tokens
    hd = d // H
    n_loops = loops or cfg.num_loops
    eps = float(np.finfo(np.float32).eps)
    prefixes = ["block."] if cfg.num_unique_blocks == 1 else [f"blocks.{b}." for b in range(cfg.num_unique_blocks)]

    def norm(v):
        return v / np.sqrt(np.mean(v * v) + eps)

    def rope(vec, pos):
        half = hd // 2
        out = np.empty_like(vec)
        for j in range(half):
            angle = pos * cfg.rope_base ** (-2.0 * j / hd)
            c, s = math.cos(angle), math.sin(angle)
            out[j] = vec[j] * c + vec[half + j] * s
            out[half + j] = -vec[j] * s + vec[half + j] * c
        return out

    def quantise(w):
        out = np.empty_like(w)
        for r in range(w.shape[0]):
            clip = np.quantile(np.abs(w[r]), QAT_CLIP_QUANTILE)
            scale = max(clip / 127.0, 1.0 / 127.0)
            out[r] = np.clip(np.round(np.clip(w[r], -clip, clip) / scale), -127, 127) * scale
        return out

    def softmax_mix(qvec, keys, values):
        scores = np.array([qvec @ key / math.sqrt(hd) for key in keys])
        w = np.exp(scores - scores.max())
        w /= w.sum()
        return sum(wi * v for wi, v in zip(w, values))

    def one_pass(pre, loop, xs, x0s):
        A = lambda name: P[pre + name]  # noqa: E731
        mix = A("resid_mix")[:, loop]
        xs = [mix[0] * x + mix[1] * x0 + A("loop_embed.weight")[loop] for x, x0 in zip(xs, x0s)]
        wq = A("attn.c_q.weight") + A("attn.delta_A")[loop] @ A("attn.delta_B")[loop]
        if cfg.qat_wq:
            wq = quantise(wq)
        S = len(xs)
        diff = cfg.attention == "diff"
        n_q = H if diff else 2 * H
        q1 = [[None] * n_q for _ in range(S)]
        q2 = [[None] * n_q for _ in range(S)]
        k1 = [[None] * K for _ in range(S)]
        k2 = [[None] * K for _ in range(S)]
        v = [[None] * K for _ in range(S)]
        lam_tok = [None] * S
        for s in range(S):
            h_in = norm(xs[s])
            qv, kv, vv = wq @ h_in, A("attn.c_k.weight") @ h_in, A("attn.c_v.weight") @ h_in
            place = (lambda t: t) if s < M else (lambda t, pos=s - M: rope(t, pos))
            gain = A("attn.q_gain")
            for h in range(n_q):
                if diff:
                    q1[s][h] = place(norm(qv[h * hd : (h + 1) * hd])) * gain[h]
                    q2[s][h] = place(norm(qv[d + h * hd : d + (h + 1) * hd])) * gain[h]
                else:
                    q1[s][h] = place(norm(qv[h * hd : (h + 1) * hd])) * gain[h]
            for g in range(K):
                k1[s][g] = place(norm(kv[g * hd : (g + 1) * hd]))
                if diff:
                    k2[s][g] = place(norm(kv[K * hd + g * hd : K * hd + (g + 1) * hd]))
                v[s][g] = vv[g * hd : (g + 1) * hd]
            if not diff:
                lam_tok[s] = 1.0 / (1.0 + np.exp(-(A("attn.lambda_proj.weight") @ h_in)))
        out = []
        for t in range(S):
            heads = []
            for h in range(H):
                if diff:
                    g = h // (H // K)
                    lam = (math.exp(A("attn.lambda_q1")[h]) * math.exp(A("attn.lambda_k1")[h])
                           - math.exp(A("attn.lambda_q2")[h]) * math.exp(A("attn.lambda_k2")[h])
                           + 0.8 - 0.6 * math.exp(-0.3))
                    a1 = softmax_mix(q1[t][h], [k1[s][g] for s in range(t + 1)], [v[s][g] for s in range(t + 1)])
                    a2 = softmax_mix(q2[t][h], [k2[s][g] for s in range(t + 1)], [v[s][g] for s in range(t + 1)])
                else:
                    group = 2 * H // K
                    ga, gb = (2 * h) // group, (2 * h + 1) // group
                    lam = lam_tok[t][h]
                    a1 = softmax_mix(q1[t][2 * h], [k1[s][ga] for s in range(t + 1)], [v[s][ga] for s in range(t + 1)])
                    a2 = softmax_mix(q1[t][2 * h + 1], [k1[s][gb] for s in range(t + 1)], [v[s][gb] for s in range(t + 1)])
                heads.append(a1 - lam * a2)
            x = xs[t] + A("attn_scale")[loop] * (A("attn.proj.weight") @ np.concatenate(heads))
            hidden = np.maximum(A("mlp.fc.weight") @ norm(x), 0.0) ** 2
            out.append(x + A("mlp_scale")[loop] * (A("mlp.proj.weight") @ hidden))
        return out

    per_loop = [[] for _ in range(n_loops)]
    emb = P["tok_emb.weight"]
    for row in range(ids.shape[0]):
        x0s = [P["memory"][0, m] for m in range(M)] + [norm(emb[tok]) for tok in ids[row]]
        xs = list(x0s)
        half = n_loops // 2
        saved = []
        for loop in range(n_loops):
            for pre in prefixes:
                xs = one_pass(pre, loop, xs, x0s)
            if loop < half:
                saved.append(xs)
            elif loop - half < half:
                j = loop - half
                xs = [x + P["skip_weights"][j] * s for x, s in zip(xs, saved[half - 1 - j])]
            for t in range(ids.shape[1]):
                logits = cfg.logit_softcap * np.tanh(emb @ norm(xs[M + t]) / cfg.logit_softcap)
                m = logits.max()
                per_loop[loop].append(m + math.log(np.exp(logits - m).sum()) - logits[targets[row, t]])
    return [np.array(losses) for losses in per_loop]


def tiny_dart(overrides=None, seed=41):
    values = {"vocab_size": 40, "model_dim": 16, "num_heads": 4, "num_kv_heads": 2, "num_loops": 4,
              "num_memory_tokens": 3, "delta_rank": 3}
    values.update(overrides or {})
    cfg = dart_fixture_config(values)
    model = random_dart_model(cfg, seed=seed)
    model.rope_dtype = torch.float64
    return cfg, model.double()


PR345_SHAPES = [
    ("memory", (1, 16, 512)),
    ("skip_weights", (2, 512)),
    ("tok_emb.weight", (1024, 512)),
    ("block.attn_scale", (4, 512)),
    ("block.mlp_scale", (4, 512)),
    ("block.resid_mix", (2, 4, 512)),
    ("block.attn.lambda_q1", (8,)),
    ("block.attn.lambda_k1", (8,)),
    ("block.attn.lambda_q2", (8,)),
    ("block.attn.lambda_k2", (8,)),
    ("block.attn.q_gain", (8,)),
    ("block.attn.delta_A", (4, 1024, 16)),
    ("block.attn.delta_B", (4, 16, 512)),
    ("block.attn.c_q.weight", (1024, 512)),
    ("block.attn.c_k.weight", (512, 512)),
    ("block.attn.c_v.weight", (256, 512)),
    ("block.attn.proj.weight", (512, 512)),
    ("block.mlp.fc.weight", (2048, 512)),
    ("block.mlp.proj.weight", (512, 2048)),
    ("block.loop_embed.weight", (4, 512)),
]


class DARTLayoutTest(unittest.TestCase):
    def test_pr345_has_the_pr_parameter_count_names_and_shapes(self):
        model = DARTReference(DARTConfig())  # the defaults are the PR's submitted config
        self.assertEqual(sum(p.numel() for p in model.parameters()), 3_918_888)
        self.assertEqual([(n, tuple(p.shape)) for n, p in model.named_parameters()], PR345_SHAPES)

    def test_multi_block_layout_and_diff_v2_tensors(self):
        cfg = DARTConfig.from_dict({"model": "dart", "num_unique_blocks": 3, "num_loops": 2, "model_dim": 64,
                                    "num_heads": 4, "num_kv_heads": 2, "delta_rank": 5, "attention": "diff_v2",
                                    "num_memory_tokens": 6, "vocab_size": 50, "mlp_mult": 3})
        shapes = {n: tuple(p.shape) for n, p in DARTReference(cfg).named_parameters()}
        expected = {"memory": (1, 6, 64), "skip_weights": (1, 64), "tok_emb.weight": (50, 64)}
        for b in range(3):
            pre = f"blocks.{b}."
            expected.update({
                pre + "attn_scale": (2, 64), pre + "mlp_scale": (2, 64), pre + "resid_mix": (2, 2, 64),
                pre + "attn.q_gain": (8,), pre + "attn.delta_A": (2, 128, 5), pre + "attn.delta_B": (2, 5, 64),
                pre + "attn.c_q.weight": (128, 64), pre + "attn.c_k.weight": (32, 64), pre + "attn.c_v.weight": (32, 64),
                pre + "attn.proj.weight": (64, 64), pre + "attn.lambda_proj.weight": (4, 64),
                pre + "mlp.fc.weight": (192, 64), pre + "mlp.proj.weight": (64, 192), pre + "loop_embed.weight": (2, 64),
            })
        self.assertEqual(shapes, expected)

    def test_config_parsing_and_errors(self):
        cfg = DARTConfig.from_dict({"MODEL": "dart", "Attention": "DIFF_V2", "qat_wq": "0", "num_loops": 6.0,
                                    "eval_loss": "deep_supervision", "num_layers": 9, "unrelated": [1]})
        self.assertEqual((cfg.attention, cfg.qat_wq, cfg.num_loops, cfg.eval_loss), ("diff_v2", False, 6, "deep_supervision"))
        for raw, message in (
            ({"model": "gpt"}, "not DART"),
            ({"attention": "plain"}, "attention must be one of diff, diff_v2"),
            ({"eval_loss": "mean"}, "eval_loss must be one of"),
            ({"tie_embeddings": False}, "ties its embeddings"),
            ({"num_heads": 8, "num_kv_heads": 3}, "divisible by num_kv_heads"),
            ({"num_loops": 0}, "num_loops must be positive"),
            ({"attention": 3}, "expected a string"),
        ):
            with self.assertRaisesRegex(ValueError, message):
                DARTConfig.from_dict(raw)


class DARTModelTest(unittest.TestCase):
    def setUp(self):
        self.ids, self.targets = random_batch(40, 2, 7, seed=43)

    def check_against_naive(self, overrides, loops=None):
        cfg, model = tiny_dart(overrides)
        with torch.no_grad():
            out = model.run(self.ids, self.targets, loops)
        expected = naive_dart_loop_losses(dict(model.named_parameters()), cfg, self.ids.numpy(), self.targets.numpy(), loops)
        self.assertEqual(len(out.loop_losses), len(expected))
        for i, (got, want) in enumerate(zip(out.loop_losses, expected)):
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-11, atol=1e-11, err_msg=f"{overrides} loop {i}")
        return cfg, out

    def test_matches_naive_recomputation(self):
        for overrides in (
            {},  # the PR's block: diff attention, QAT on W_q, 4 loops, memory rows
            {"num_loops": 5, "qat_wq": False},  # odd loop count: the middle loop neither pushes nor pops
            {"attention": "diff_v2"},
            {"attention": "diff_v2", "num_unique_blocks": 2, "num_loops": 3, "num_kv_heads": 1},
            {"num_unique_blocks": 3, "num_loops": 2, "num_memory_tokens": 0},
        ):
            cfg, out = self.check_against_naive(overrides)
            self.assertEqual(tuple(out.logits.shape), (14, cfg.vocab_size), "memory rows are never scored")
            self.assertLessEqual(float(out.logits.abs().max()), cfg.logit_softcap)

    def test_memory_rows_are_not_scored_but_feed_every_token(self):
        cfg, model = tiny_dart({"num_memory_tokens": 4})
        out = model.run(self.ids, self.targets)
        self.assertEqual([tuple(l.shape) for l in out.loop_losses], [(14,)] * cfg.num_loops)
        # The loss at the first token depends on the memory (it attends to it) ...
        first = out.loop_losses[-1].view(2, 7)[:, 0].sum()
        (grad,) = torch.autograd.grad(first, model.memory)
        self.assertGreater(float(grad.abs().max()), 0.0)
        # ... and the scored rows are the tokens: CE of each logits row at its own target.
        logits = out.logits.detach()
        recomputed = torch.logsumexp(logits, -1) - logits.gather(1, self.targets.long().view(-1, 1)).squeeze(1)
        np.testing.assert_allclose(out.per_token.detach().numpy(), recomputed.numpy(), rtol=1e-12, atol=1e-12)

    def test_causal_with_memory_tokens(self):
        for overrides in ({}, {"attention": "diff_v2", "num_unique_blocks": 2, "num_loops": 2}):
            _, model = tiny_dart(overrides)
            for position in (0, 3, 6):
                changed = self.ids.clone()
                changed[0, position] = (changed[0, position] + 7) % 40
                with torch.no_grad():
                    before = model.run(self.ids, self.targets).loop_losses
                    after = model.run(changed, self.targets).loop_losses
                for b, a in zip(before, after):
                    b, a = b.view(2, 7), a.view(2, 7)
                    self.assertTrue(torch.equal(b[0, :position], a[0, :position]), f"{overrides} position {position}")
                    self.assertTrue(torch.equal(b[1], a[1]), "rows of a batch are independent")
                    self.assertFalse(torch.equal(b[0, position], a[0, position]))

    def test_deep_supervision_weights_and_eval_loss(self):
        for gamma in (0.9, 0.5, 0.0):
            for eval_kind in ("last_loop", "deep_supervision"):
                _, model = tiny_dart({"deep_sup_gamma": gamma, "eval_loss": eval_kind})
                with torch.no_grad():
                    out = model.run(self.ids, self.targets)
                weights = [gamma ** (3 - i) for i in range(4)]
                self.assertEqual(out.loop_weights, weights)
                combined = sum(w * float(l.mean()) for w, l in zip(weights, out.loop_losses)) / sum(weights)
                self.assertAlmostEqual(float(out.loss), combined, places=12)
                scored = combined if eval_kind == "deep_supervision" else float(out.loop_losses[-1].mean())
                self.assertAlmostEqual(float(out.eval_loss), scored, places=12)
        self.assertAlmostEqual(float(out.loss), float(out.loop_losses[-1].mean()), places=12, msg="gamma 0: last loop only")

    def test_fewer_loops_equal_a_model_built_with_those_loops(self):
        cfg, model = tiny_dart({"num_loops": 5, "attention": "diff_v2", "num_unique_blocks": 2})
        for n in (1, 2, 3):
            small_cfg = dart_fixture_config({**{k: getattr(cfg, k) for k in (
                "vocab_size", "model_dim", "num_heads", "num_kv_heads", "num_memory_tokens", "delta_rank",
                "attention", "num_unique_blocks", "mlp_mult")}, "num_loops": n})
            small = DARTReference(small_cfg, rope_dtype=torch.float64).double()
            per_loop = ("attn_scale", "mlp_scale", "loop_embed.weight", "attn.delta_A", "attn.delta_B")
            tensors = {}
            for name, p in model.named_parameters():
                t = p.detach()
                if name.endswith(per_loop):
                    t = t[:n]
                elif name.endswith("resid_mix"):
                    t = t[:, :n]
                elif name == "skip_weights":
                    t = t[: n // 2]
                tensors[name] = t
            small.load_named_tensors(tensors)
            model.zero_grad(set_to_none=True)
            out = model.run(self.ids, self.targets, loops=n)
            out.loss.backward()
            with torch.no_grad():
                want = small.run(self.ids, self.targets)
            self.assertEqual(len(out.loop_losses), n)
            for got, ref in zip(out.loop_losses, want.loop_losses):
                self.assertTrue(torch.equal(got.detach(), ref))
            self.assertEqual(float(out.loss), float(want.loss))
            unused = model.blocks[1].attn_scale.grad[n:]
            self.assertTrue(bool((unused == 0).all()), "rows of loops that did not run get zero gradient")
        with self.assertRaisesRegex(ValueError, "loops must be in"):
            model.run(self.ids, self.targets, loops=6)

    def test_gradients_match_finite_differences(self):
        for overrides in (
            {"qat_wq": False},  # every other feature on: memory, skips, deltas, lambdas, deep supervision
            {"qat_wq": False, "attention": "diff_v2", "num_loops": 3},
            {"qat_wq": False, "num_unique_blocks": 2, "num_loops": 2},
            {"qat_wq": False, "attention": "diff_v2", "num_unique_blocks": 3, "num_loops": 3, "num_kv_heads": 1},
        ):
            _, model = tiny_dart(overrides, seed=47)
            ids, targets = self.ids[:, :5], self.targets[:, :5]
            model(ids, targets)[0].backward()
            gen = torch.Generator().manual_seed(5)
            h = 1e-6
            for name, p in model.named_parameters():
                self.assertIsNotNone(p.grad, name)
                self.assertGreater(float(p.grad.abs().max()), 0.0, f"{overrides} {name} has an all-zero gradient")
                flat, grad = p.data.view(-1), p.grad.view(-1)
                for index in torch.randint(0, flat.numel(), (3,), generator=gen).tolist():
                    original = float(flat[index])
                    with torch.no_grad():
                        flat[index] = original + h
                        up = float(model(ids, targets)[0])
                        flat[index] = original - h
                        down = float(model(ids, targets)[0])
                        flat[index] = original
                    numeric = (up - down) / (2 * h)
                    analytic = float(grad[index])
                    self.assertLess(
                        abs(numeric - analytic),
                        1e-7 + 1e-5 * abs(analytic),
                        f"{overrides} {name}[{index}]: autograd {analytic:.10g} vs finite difference {numeric:.10g}",
                    )


class FakeQuantTest(unittest.TestCase):
    def test_matches_the_documented_rule_bit_for_bit(self):
        gen = torch.Generator().manual_seed(9)
        for dtype in (torch.float32, torch.float64):
            for cols in (7, 32, 512):
                w = torch.randn(20, cols, generator=gen, dtype=dtype) * torch.logspace(-3, 1, 20, dtype=dtype)[:, None]
                w[3, 5] = 40.0  # an outlier row: its clip sits just under the outlier
                out = fake_quant_per_row(w)
                # clip = torch.quantile's linear rule: rank = q*(n-1) in the tensor's dtype,
                # lerp(sorted[floor], sorted[ceil], rank - floor) with torch.lerp's weight >= 0.5 branch.
                ranked, _ = w.abs().sort(dim=1)
                rank = torch.tensor(QAT_CLIP_QUANTILE, dtype=dtype) * (cols - 1)
                lo, hi = int(rank.floor()), int(rank.ceil())
                frac = rank - lo
                self.assertGreaterEqual(float(frac), 0.5)
                below, above = ranked[:, lo], ranked[:, hi]
                clip = above - (above - below) * (1 - frac)
                scale = torch.maximum(clip / 127.0, torch.tensor(1.0 / 127.0, dtype=dtype))
                levels = (torch.minimum(torch.maximum(w, -clip[:, None]), clip[:, None]) / scale[:, None]).round()
                expected = w + (levels.clamp(-127, 127) * scale[:, None] - w)
                self.assertTrue(torch.equal(out, expected), f"{dtype} {cols}")
                # Every value is an integer level of its row's scale, |level| <= 127.
                k = out / scale[:, None]
                self.assertLess(float((k - k.round()).abs().max()), 1e-4)
                self.assertLessEqual(float(k.abs().max()), 127.0 + 1e-4)
                # Rows whose clip is under 1 use the floor scale 1/127.
                small = clip < 1.0
                self.assertTrue(bool(small.any()) and bool((~small).any()))
                self.assertTrue(bool((scale[small] == torch.tensor(1.0 / 127.0, dtype=dtype)).all()))

    def test_gradient_is_straight_through(self):
        gen = torch.Generator().manual_seed(10)
        w = torch.randn(6, 9, generator=gen, dtype=torch.float64, requires_grad=True)
        upstream = torch.randn(6, 9, generator=gen, dtype=torch.float64)
        (fake_quant_per_row(w) * upstream).sum().backward()
        self.assertTrue(torch.equal(w.grad, upstream))

    def test_model_routes_the_quantised_weight_gradient_to_c_q_and_the_deltas(self):
        ids, targets = random_batch(40, 2, 6, seed=44)
        _, model = tiny_dart({"num_loops": 3})
        captured = []
        model.block.attn.captured_wq = captured
        loss = model(ids, targets)[0]
        per_pass = torch.autograd.grad(loss, captured, retain_graph=True)
        loss.backward()
        attn = model.block.attn
        np.testing.assert_allclose(attn.c_q.weight.grad.numpy(), sum(per_pass).numpy(), rtol=1e-12, atol=1e-14)
        for loop, g in enumerate(per_pass):
            np.testing.assert_allclose(attn.delta_A.grad[loop].numpy(), (g @ attn.delta_B[loop].t()).detach().numpy(),
                                       rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(attn.delta_B.grad[loop].numpy(), (attn.delta_A[loop].t() @ g).detach().numpy(),
                                       rtol=1e-12, atol=1e-14)
        model.block.attn.captured_wq = None
        with torch.no_grad():
            plain = float(model(ids, targets)[0])
            model.block.attn.qat = False
            self.assertNotEqual(plain, float(model(ids, targets)[0]), "the fake quant changes the forward pass")


class DARTOptimizerTest(unittest.TestCase):
    def test_the_pr_grouping_and_momentum_warmup(self):
        for attention in ("diff", "diff_v2"):
            model = DARTReference(dart_fixture_config({"attention": attention, "num_unique_blocks": 2}))
            optim = build_optimizers(model)
            groups = {}
            for opt in optim.optimizers:
                for group in opt.param_groups:
                    for p in group["params"]:
                        self.assertNotIn(id(p), groups, "every parameter is in exactly one optimizer")
                        groups[id(p)] = (type(opt).__name__, group["lr"])
            named = dict(model.named_parameters())
            self.assertEqual(len(groups), len(named))
            muon = {n for n, p in named.items() if groups[id(p)][0] == "Muon"}
            expected_muon = {f"blocks.{b}.{s}" for b in range(2) for s in (
                "attn.c_q.weight", "attn.c_k.weight", "attn.c_v.weight", "attn.proj.weight", "mlp.fc.weight", "mlp.proj.weight")}
            if attention == "diff_v2":
                expected_muon |= {"blocks.0.attn.lambda_proj.weight", "blocks.1.attn.lambda_proj.weight"}
            self.assertEqual(muon, expected_muon)
            self.assertEqual(groups[id(named["tok_emb.weight"])], ("Adam", 0.05))
            for name in ("memory", "skip_weights", "blocks.1.loop_embed.weight", "blocks.0.attn.delta_A",
                         "blocks.0.attn_scale", "blocks.1.resid_mix", "blocks.0.attn.q_gain"):
                self.assertEqual(groups[id(named[name])], ("Adam", 0.04), name)
        self.assertAlmostEqual(optim.muon_momentum(0), 0.85)
        self.assertAlmostEqual(optim.muon_momentum(150), 0.90)  # the PR warms up over 300 steps
        self.assertAlmostEqual(optim.muon_momentum(300), 0.95)
        no_warmup = build_optimizers(DARTReference(dart_fixture_config({"muon_momentum_warmup_steps": 0})))
        self.assertAlmostEqual(no_warmup.muon_momentum(0), 0.85, msg="the PR divides by max(steps, 1)")
        self.assertAlmostEqual(no_warmup.muon_momentum(1), 0.95)


class DARTOracleCliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.ckpt = os.path.join(cls.tmp.name, "dart.safetensors")
        cls.batch = os.path.join(cls.tmp.name, "b.safetensors")
        cls.config = dart_fixture_config()
        cls.model = random_dart_model(cls.config, seed=51)
        cls.ids, cls.targets = random_batch(64, 2, 16, seed=52)
        write_checkpoint(cls.ckpt, cls.model)
        write_batch(cls.batch, cls.ids, cls.targets)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def oracle(self, *args, subprocess_run=False):
        out = os.path.join(self.tmp.name, f"out-{len(os.listdir(self.tmp.name))}.safetensors")
        argv = [*args, "--checkpoint", self.ckpt, "--batch", self.batch, "--out", out]
        if subprocess_run:
            result = run_cli(ORACLE, *argv)
            self.assertEqual(result.returncode, 0, result.stderr)
        else:
            self.assertEqual(oracle_main(argv), 0)
        return read_safetensors(out)[0]

    def failing_oracle(self, checkpoint, *args):
        """Runs the CLI in this process expecting exit code 2 and no output file; returns stderr."""
        out = checkpoint + ".out"
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            code = oracle_main(["grads", "--checkpoint", checkpoint, "--batch", self.batch, "--out", out, *args])
        self.assertEqual(code, 2)
        self.assertFalse(os.path.exists(out))
        return stderr.getvalue()

    def test_grads_contract(self):
        out = self.oracle("grads", subprocess_run=True)
        params = dict(self.model.named_parameters())
        loops = [f"per_token_loss_loop{i}" for i in range(4)]
        expected = {"loss", "eval_loss", "per_token_loss", "logits", *loops} | {f"grad.{n}" for n in params}
        self.assertEqual(set(out), expected)
        self.assertEqual(tuple(out["logits"].shape), (32, 64))
        for name in ("per_token_loss", *loops):
            self.assertEqual(tuple(out[name].shape), (32,), name)
        for name, p in params.items():
            self.assertEqual(out[f"grad.{name}"].shape, p.shape, name)
            self.assertGreater(float(out[f"grad.{name}"].abs().max()), 0.0, name)
        self.assertTrue(torch.equal(out["per_token_loss"], out["per_token_loss_loop3"]))
        weights = [0.9**3, 0.9**2, 0.9, 1.0]
        combined = sum(w * float(out[n].double().mean()) for w, n in zip(weights, loops)) / sum(weights)
        self.assertAlmostEqual(float(out["loss"]), combined, places=5)
        self.assertAlmostEqual(float(out["eval_loss"]), float(out["per_token_loss"].double().mean()), places=5)

        out64 = self.oracle("grads", "--float64")
        for name in expected:
            scale = float(out64[name].abs().max())
            diff = float((out[name] - out64[name]).abs().max())
            self.assertLess(diff, 1e-4 * max(scale, 1.0), name)

    def test_loops_option(self):
        out = self.oracle("grads", "--float64", "--loops", "2")
        self.assertEqual({n for n in out if n.startswith("per_token_loss_loop")}, {"per_token_loss_loop0", "per_token_loss_loop1"})
        with torch.no_grad():
            want = self.model.double().run(self.ids, self.targets, loops=2)
        self.model.float()
        self.assertAlmostEqual(float(out["loss"]), float(want.loss), places=6)
        self.assertTrue(bool((out["grad.block.attn_scale"][2:] == 0).all()))
        self.assertIn("loops must be in [1, num_loops=4]", self.failing_oracle(self.ckpt, "--loops", "5"))

    def test_steps_apply_the_pr_split_and_reduce_loss(self):
        grads = self.oracle("grads", "--float64")
        one = self.oracle("steps", "--steps", "1", "--float64")
        self.assertEqual(set(one), set(dict(self.model.named_parameters())) | {"loss.0"})
        self.assertAlmostEqual(float(one["loss.0"]), float(grads["loss"]), places=5)
        before = dict(self.model.named_parameters())
        for name in ("block.attn.c_q.weight", "block.attn.c_k.weight", "block.mlp.proj.weight"):
            g = grads[f"grad.{name}"].double()
            rows, cols = g.shape
            expected = before[name].detach().double() - 0.04 * max(1, rows / cols) ** 0.5 * newton_schulz5(1.85 * g, 5)
            np.testing.assert_allclose(one[name].numpy(), expected.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
        for name, lr in (("tok_emb.weight", 0.05), ("memory", 0.04), ("block.loop_embed.weight", 0.04),
                         ("block.attn.delta_A", 0.04), ("block.attn.lambda_q2", 0.04)):
            g = grads[f"grad.{name}"].double()
            expected = before[name].detach().double() - lr * g / (g.abs() + 1e-8)
            np.testing.assert_allclose(one[name].numpy(), expected.numpy(), rtol=1e-5, atol=2e-6, err_msg=name)
        many = self.oracle("steps", "--steps", "8")
        losses = [float(many[f"loss.{k}"]) for k in range(8)]
        self.assertAlmostEqual(losses[0], float(grads["loss"]), places=4)
        self.assertLess(losses[-1], 0.7 * losses[0], f"losses {losses}")

    def test_strict_loading_and_model_dispatch_errors(self):
        tensors = {n: p.detach().clone() for n, p in self.model.named_parameters()}
        del tensors["block.attn.delta_B"]
        tensors["block.attn.lambda_proj.weight"] = torch.zeros(4, 32)
        bad = os.path.join(self.tmp.name, "bad.safetensors")
        write_safetensors(bad, tensors, {"format": CHECKPOINT_FORMAT, "config": config_json(self.config)})
        message = self.failing_oracle(bad)
        self.assertIn("do not match the dart model", message)
        self.assertIn("missing: block.attn.delta_B", message)
        self.assertIn("unexpected: block.attn.lambda_proj.weight", message)
        odd = os.path.join(self.tmp.name, "odd.safetensors")
        write_safetensors(odd, tensors, {"format": CHECKPOINT_FORMAT, "config": json.dumps({"model": "mamba"})})
        self.assertIn("'mamba' is not implemented by the reference oracle (gpt, dart)", self.failing_oracle(odd))
        gpt = os.path.join(self.tmp.name, "gpt.safetensors")
        write_checkpoint(gpt, random_model(fixture_config(), seed=3))
        self.assertIn("--loops applies to DART checkpoints only", self.failing_oracle(gpt, "--loops", "2"))



# ---------------------------------------------------------------------------------------------
# Pluggable blocks (blocks_reference.py)
# ---------------------------------------------------------------------------------------------


def naive_tau_fusion(P, streams, n, latent):
    """tau-fusion row by row in float64 NumPy (no code shared with blocks_reference.py)."""
    rows = streams[0].shape[0]
    out, taus = [], np.zeros((n, rows, P["mix.0"].shape[0]))
    for r in range(rows):
        f = [P[f"proj_in.{i}.weight"] @ streams[i][r] if latent else streams[i][r] for i in range(n)]
        dis = sum(abs(f[i] - f[j]) for i in range(n) for j in range(i + 1, n))
        feats = np.concatenate(f + [dis])
        fused = 0.0
        for i in range(n):
            pre = P[f"ctrl.{i}.fc.weight"] @ feats + P[f"ctrl.{i}.fc.bias"]
            hid = np.array([0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0))) for v in pre])
            tau = 1.0 / (1.0 + np.exp(-(P[f"ctrl.{i}.proj.weight"] @ hid + P[f"ctrl.{i}.proj.bias"])))
            taus[i, r] = tau
            fused = fused + tau * P[f"mix.{i}"] * f[i]
        out.append(P["proj_out.weight"] @ fused if latent else fused)
    return np.array(out), taus


def naive_daam(P, x, groups, gaussians, residual, eps):
    rows, d = x.shape
    m = d // groups
    out, density = np.zeros_like(x), np.zeros((rows, groups))
    for r in range(rows):
        for g in range(groups):
            seg = x[r, g * m : (g + 1) * m]
            mu = seg.mean()
            var = ((seg - mu) ** 2).mean()
            w = np.exp(P["mix_logits"][g]) if gaussians > 1 else np.ones(1)
            pi = w / w.sum()
            gate = np.zeros(m)
            for j in range(gaussians):
                y = (seg - (mu + P["offset"][g, j])) / math.sqrt(var + eps)
                gate += pi[j] * np.exp(-(y**2) / (2.0 * P["scale"][g, j]))
            out[r, g * m : (g + 1) * m] = seg + seg * gate if residual else seg * gate
            density[r, g] = gate.mean()
    return out, density


class BlocksReferenceTest(unittest.TestCase):
    TAU = {"streams": 3, "dim": 6, "latent": 0, "hidden": 5}
    TAU_LATENT = {"streams": 2, "dim": 6, "latent": 4, "hidden": 3}
    DAAM = {"dim": 12, "groups": 3, "gaussians": 1, "residual": False, "eps": 1e-5}
    DAAM_MIX = {"dim": 12, "groups": 4, "gaussians": 3, "residual": True, "eps": 1e-5}
    GATE = {"dim": 8, "heads": 2, "head_dim": 3, "identity_init": False}

    @staticmethod
    def random_case(kind, config, rows=5, seed=0):
        """(block in float64 with random parameters, {name: tensor} inputs, params and dout)."""
        from blocks_reference import build_block, input_names

        gen = torch.Generator().manual_seed(seed)
        block = build_block(kind, config).double()
        tensors = {}
        with torch.no_grad():
            for name, p in block.named_parameters():
                lo, hi = (0.8, 2.5) if name == "scale" else (-0.7, 0.7)
                p.copy_(lo + (hi - lo) * torch.rand(p.shape, generator=gen, dtype=torch.float64))
                tensors[name] = p.detach().clone()
        for name in input_names(kind, block):
            width = config["heads"] * config["head_dim"] if name == "attn" else config["dim"]
            tensors[name] = 4 * torch.rand(rows, width, generator=gen, dtype=torch.float64) - 2
        out_width = config["heads"] * config["head_dim"] if kind == "head_gate" else config["dim"]
        tensors["dout"] = torch.rand(rows, out_width, generator=gen, dtype=torch.float64) - 0.5
        return block, tensors

    def test_tau_fusion_matches_naive_recomputation(self):
        for config in (self.TAU, self.TAU_LATENT):
            block, t = self.random_case("tau_fusion", config, seed=1)
            n = config["streams"]
            streams = [t[f"stream.{i}"] for i in range(n)]
            out, tau = block(streams)
            P = {k: v.numpy() for k, v in t.items()}
            ref_out, ref_tau = naive_tau_fusion(P, [s.numpy() for s in streams], n, config["latent"] > 0)
            np.testing.assert_allclose(out.detach().numpy(), ref_out, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(tau.detach().numpy(), ref_tau, rtol=1e-12, atol=1e-12)

    def test_daam_matches_naive_recomputation(self):
        for config in (self.DAAM, self.DAAM_MIX):
            block, t = self.random_case("daam", config, seed=2)
            out, density = block(t["x"])
            P = {k: v.numpy() for k, v in t.items()}
            ref_out, ref_density = naive_daam(P, t["x"].numpy(), config["groups"], config["gaussians"],
                                              config["residual"], config["eps"])
            np.testing.assert_allclose(out.detach().numpy(), ref_out, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(density.detach().numpy(), ref_density, rtol=1e-12, atol=1e-12)

    def test_head_gate_matches_naive_recomputation(self):
        block, t = self.random_case("head_gate", self.GATE, seed=3)
        out, gate = block(t["x"], t["attn"])
        x, w, attn = t["x"].numpy(), t["weight"].numpy(), t["attn"].numpy().reshape(5, 2, 3)
        ref_gate = 1.0 / (1.0 + np.exp(-(x @ w.T)))
        np.testing.assert_allclose(gate.detach().numpy(), ref_gate, rtol=1e-12)
        np.testing.assert_allclose(out.detach().numpy(), attn * ref_gate[..., None], rtol=1e-12)

    def test_gradients_match_finite_differences(self):
        from torch.nn.utils.stateless import functional_call

        cases = [("tau_fusion", self.TAU), ("tau_fusion", self.TAU_LATENT), ("daam", self.DAAM),
                 ("daam", self.DAAM_MIX), ("head_gate", self.GATE)]
        for kind, config in cases:
            with self.subTest(kind=kind, config=config):
                block, t = self.random_case(kind, config, rows=3, seed=4)
                names = [n for n, _ in block.named_parameters()]
                from blocks_reference import input_names

                inputs = input_names(kind, block)

                def fn(*args):
                    params = dict(zip(names, args[: len(names)]))
                    xs = args[len(names):]
                    call_args = (list(xs),) if kind == "tau_fusion" else tuple(xs)
                    return functional_call(block, params, call_args)[0]

                args = [t[n].clone().requires_grad_(True) for n in names + inputs]
                self.assertTrue(torch.autograd.gradcheck(fn, args, eps=1e-6, atol=1e-6, rtol=1e-5))

    def test_each_token_depends_only_on_its_own_row(self):
        for kind, config in (("tau_fusion", self.TAU_LATENT), ("daam", self.DAAM_MIX), ("head_gate", self.GATE)):
            with self.subTest(kind=kind):
                from blocks_reference import input_names

                block, t = self.random_case(kind, config, rows=6, seed=5)
                names = input_names(kind, block)

                def run(tensors):
                    xs = [tensors[n] for n in names]
                    return (block(xs) if kind == "tau_fusion" else block(*xs))[0].detach().reshape(6, -1)

                before = run(t)
                edited = dict(t)
                for n in names:
                    edited[n] = t[n].clone()
                    edited[n][3] += 0.5
                after = run(edited)
                changed = [bool((before[r] != after[r]).any()) for r in range(6)]
                self.assertEqual(changed, [r == 3 for r in range(6)])

    def test_tau_fusion_step0_init_reproduces_the_mix(self):
        # Zero last layer, bias 0 => tau = 1/2; mix = 2m => out = m0 x + m1 x0.
        block, t = self.random_case("tau_fusion", {"streams": 2, "dim": 6, "latent": 0, "hidden": 4}, seed=6)
        with torch.no_grad():
            for i, m in enumerate((1.0, 0.0)):
                block.ctrl[i].proj.weight.zero_()
                block.ctrl[i].proj.bias.zero_()
                block.mix[i].fill_(2 * m)
        out, tau = block([t["stream.0"], t["stream.1"]])
        self.assertTrue(torch.equal(out, t["stream.0"]))
        self.assertTrue(bool((tau == 0.5).all()))

    def block_file(self, kind, config, tensors, path):
        write_safetensors(path, {k: v.float() for k, v in tensors.items()},
                          {"block": kind, "config": json.dumps(config)})

    def test_block_cli_contract(self):
        from blocks_reference import run_block

        with tempfile.TemporaryDirectory() as tmp:
            for kind, config, extra in (("tau_fusion", self.TAU_LATENT, "tau"), ("daam", self.DAAM_MIX, "density"),
                                        ("head_gate", self.GATE, "gate")):
                with self.subTest(kind=kind):
                    block, t = self.random_case(kind, config, seed=7)
                    inp, out = os.path.join(tmp, f"{kind}.in"), os.path.join(tmp, f"{kind}.out")
                    self.block_file(kind, config, t, inp)
                    if kind == "daam":  # once as the C++ tests run it: a separate process
                        result = run_cli(ORACLE, "block", "--float64", "--inputs", inp, "--out", out)
                        self.assertEqual(result.returncode, 0, result.stderr)
                    else:
                        self.assertEqual(oracle_main(["block", "--float64", "--inputs", inp, "--out", out]), 0)
                    got, metadata = read_safetensors(out)
                    self.assertEqual(metadata["block"], kind)
                    params = dict(block.named_parameters())
                    inputs = [n for n in t if n not in params and n != "dout"]
                    self.assertEqual(set(got), {"out", extra} | {f"grad.{n}" for n in list(params) + inputs})
                    for n in list(params) + inputs:
                        self.assertEqual(tuple(got[f"grad.{n}"].shape), tuple(t[n].shape), n)
                        self.assertEqual(got[f"grad.{n}"].dtype, torch.float32)
                    direct = run_block(kind, config, {k: v.float() for k, v in t.items()})
                    for name, value in direct.items():
                        np.testing.assert_allclose(got[name].numpy(), value.numpy(), rtol=1e-6, atol=1e-7,
                                                   err_msg=name)

    def test_block_cli_errors_name_the_problem(self):
        with tempfile.TemporaryDirectory() as tmp:
            _, t = self.random_case("daam", self.DAAM_MIX, seed=8)
            cases = []
            missing = dict(t)
            del missing["mix_logits"]
            cases.append(("daam", self.DAAM_MIX, missing, "missing: mix_logits"))
            cases.append(("mamba", self.DAAM_MIX, t, "unknown block 'mamba'"))
            no_dout = dict(t)
            del no_dout["dout"]
            cases.append(("daam", self.DAAM_MIX, no_dout, "lacks dout"))
            cases.append(("daam", dict(self.DAAM_MIX, groups=5), t, "groups=5"))
            for i, (kind, config, tensors, needle) in enumerate(cases):
                inp, out = os.path.join(tmp, f"{i}.in"), os.path.join(tmp, f"{i}.out")
                self.block_file(kind, config, tensors, inp)
                err = io.StringIO()
                with contextlib.redirect_stderr(err):
                    code = oracle_main(["block", "--inputs", inp, "--out", out])
                self.assertEqual(code, 2, needle)
                self.assertIn(needle, err.getvalue())
                self.assertFalse(os.path.exists(out))


# Every site in use, each block with non-default options (docs/blocks.md, "DART use sites").
EVERY_SITE = [
    {"type": "tau_fusion", "site": "loop_input", "hidden": 4},
    {"type": "head_gate", "site": "attn_output", "identity_init": False},
    {"type": "daam", "site": "attn_output", "gaussians": 2},
    {"type": "daam", "site": "mlp_input", "groups": 2, "residual": True},
    {"type": "tau_fusion", "site": "loop_output", "hidden": 3, "latent": 5},
    {"type": "daam", "site": "block_output", "groups": 8, "gaussians": 3},
]
# The blocks whose init reproduces the plain model exactly.
EXACT_AT_INIT = [
    {"type": "tau_fusion", "site": "loop_input", "hidden": 5},
    {"type": "head_gate", "site": "attn_output"},
    {"type": "tau_fusion", "site": "loop_output", "hidden": 3},
]


class DartBlocksReferenceTest(unittest.TestCase):
    def setUp(self):
        self.ids, self.targets = random_batch(40, 2, 7, seed=61)

    @staticmethod
    def config(overrides=None, blocks=EVERY_SITE):
        values = {"vocab_size": 40, "model_dim": 16, "num_heads": 4, "num_kv_heads": 2, "num_loops": 4,
                  "num_memory_tokens": 3, "delta_rank": 3, "blocks": blocks}
        values.update(overrides or {})
        return dart_fixture_config(values)

    def test_tensor_names_shapes_and_layout_order(self):
        for blocks_count, prefixes in ((1, ["block."]), (2, ["blocks.0.", "blocks.1."])):
            model = DARTReference(self.config({"num_unique_blocks": blocks_count}))
            names = [n for n, _ in model.named_parameters()]
            shapes = dict((n, tuple(p.shape)) for n, p in model.named_parameters())
            for pre in prefixes:
                self.assertNotIn(pre + "resid_mix", shapes, "a loop_input tau-fusion replaces resid_mix")
                plugged = [n for n in names if n.startswith(pre) and n.split(".")[len(pre.split(".")) - 1] in (
                    "loop_input", "attn_output", "mlp_input", "block_output")]
                own = [n for n in names if n.startswith(pre) and n not in plugged]
                self.assertEqual(own[-1], pre + "loop_embed.weight")
                self.assertEqual(names.index(plugged[0]), names.index(own[-1]) + 1, "block tensors follow loop_embed")
                # 3 streams (x, x0, skip) of width 16, hidden 4; the head gate [H, d]; DAAM [g, N].
                self.assertEqual(shapes[pre + "loop_input.tau_fusion.ctrl.0.fc.weight"], (4, 64))
                self.assertEqual(shapes[pre + "loop_input.tau_fusion.mix.2"], (16,))
                self.assertNotIn(pre + "loop_input.tau_fusion.mix.3", shapes)
                self.assertEqual(shapes[pre + "attn_output.head_gate.weight"], (4, 16))
                self.assertEqual(shapes[pre + "attn_output.daam.mix_logits"], (4, 2), "groups default: num_heads")
                self.assertEqual(shapes[pre + "mlp_input.daam.offset"], (2, 1))
                self.assertNotIn(pre + "mlp_input.daam.mix_logits", shapes, "N = 1 has no mixture logits")
                self.assertEqual(shapes[pre + "block_output.daam.scale"], (8, 3))
            loop_output = [n for n in names if n.startswith("loop_output.tau_fusion.")]
            self.assertEqual(names[-len(loop_output):], loop_output, "model-level blocks close the layout")
            self.assertEqual(shapes["loop_output.tau_fusion.proj_in.3.weight"], (5, 16), "one stream per loop")
            self.assertEqual(shapes["loop_output.tau_fusion.ctrl.0.fc.weight"], (3, 25))
            self.assertEqual(shapes["loop_output.tau_fusion.proj_out.weight"], (16, 5))
        no_skip = DARTReference(self.config(blocks=[{"type": "tau_fusion", "site": "loop_input", "skip_stream": False}]))
        self.assertEqual(tuple(no_skip.block.loop_input.tau_fusion.ctrl[0].fc.weight.shape), (64, 48))
        one_loop = DARTReference(self.config({"num_loops": 1}, blocks=[{"type": "tau_fusion", "site": "loop_input"}]))
        self.assertEqual(one_loop.block.loop_input.tau_fusion.streams, 2, "no skips with one loop: no skip stream")

    def test_config_errors_name_the_entry(self):
        tau_in = {"type": "tau_fusion", "site": "loop_input"}
        daam_mlp = {"type": "daam", "site": "mlp_input"}
        cases = (
            ([{"type": "mamba", "site": "loop_input"}], "blocks[0]: unknown or missing type 'mamba' (valid types: tau_fusion, daam, head_gate)"),
            ([tau_in, {"site": "mlp_input"}], "blocks[1]: unknown or missing type None"),
            ([{"type": "daam", "site": "attn_input"}], "blocks[0]: unknown or missing site 'attn_input' (valid sites: loop_input, loop_output, attn_output, mlp_input, block_output)"),
            ([{"type": "head_gate", "site": "mlp_input"}], "blocks[0]: head_gate does not serve site 'mlp_input' (its sites: attn_output)"),
            ([{"type": "tau_fusion", "site": "block_output"}], "tau_fusion does not serve site 'block_output' (its sites: loop_input, loop_output)"),
            ([dict(daam_mlp, hidden=4)], "blocks[0]: unknown option 'hidden' for daam (its options: groups, gaussians, residual, eps, init_scale, init_offset_std)"),
            ([daam_mlp, tau_in, daam_mlp], "blocks[2]: daam appears twice at site 'mlp_input' (also blocks[0])"),
            ([dict(tau_in, hidden="8")], "blocks[0]: option 'hidden' must be an integer, got '8'"),
            ([dict(tau_in, hidden=8.0)], "option 'hidden' must be an integer"),
            ([dict(tau_in, skip_stream=2)], "option 'skip_stream' must be true or false, got 2"),
            ([dict(tau_in, skip_stream=1.0)], "option 'skip_stream' must be true or false"),
            ([dict(tau_in, init_logit=True)], "option 'init_logit' must be a finite number"),
            ([dict(tau_in, init_logit=float("nan"))], "option 'init_logit' must be a finite number"),
            ([{"type": "tau_fusion", "site": "loop_output", "skip_stream": True}],
             "blocks[0]: option 'skip_stream' applies to loop_input only"),
            ([dict(tau_in, latent=17)], r"blocks\[0\] \(tau_fusion@loop_input\): latent=17 exceeds model_dim=16"),
            ([dict(tau_in, hidden=0)], "option 'hidden' must be at least 1"),
            ([dict(daam_mlp, eps=0)], "option 'eps' must be greater than 0"),
            ([dict(daam_mlp, groups=3)], r"blocks\[0\] \(daam@mlp_input\): groups=3 must divide model_dim=16"),
            ([3], "blocks[0]: must be an object"),
            ({"type": "daam"}, "must be a JSON array"),
            ("[{", "not valid JSON"),
        )
        for blocks, needle in cases:
            with self.subTest(needle=needle):
                with self.assertRaises(ValueError) as caught:
                    self.config(blocks=blocks)
                if needle.startswith(r"blocks\["):
                    self.assertRegex(str(caught.exception), needle)
                else:
                    self.assertIn(needle, str(caught.exception))
        with self.assertRaisesRegex(ValueError, r"blocks\[0\] \(tau_fusion@loop_output\): .*needs num_loops >= 2"):
            self.config({"num_loops": 1}, blocks=[{"type": "tau_fusion", "site": "loop_output"}])
        # JSON text and a list are the same setting; key case follows the config's other keys.
        as_text = DARTConfig.from_dict({"BLOCKS": json.dumps(EVERY_SITE), "model_dim": 16, "num_heads": 4})
        self.assertEqual(as_text.blocks, EVERY_SITE)
        self.assertEqual(DARTConfig.from_dict({"blocks": ""}).blocks, [])
        zero_one = DARTConfig.from_dict({"blocks": [dict(tau_in, skip_stream=0)]}).block_specs()
        self.assertIs(zero_one[0].options["skip_stream"], False, "0 and 1 read as booleans, as the C++ does")
        specs = as_text.block_specs()
        self.assertEqual([s.label for s in specs][:2], ["tau_fusion@loop_input", "head_gate@attn_output"])
        self.assertEqual(dict(specs[0].options), {"hidden": 4, "latent": 0, "init_logit": 0.0, "skip_stream": True})
        self.assertEqual(dict(specs[2].options), {"groups": 4, "gaussians": 2, "residual": False, "eps": 1e-5,
                                                  "init_scale": 2.0, "init_offset_std": 0.5})
        from block_spec_reference import reject_blocks_outside_dart

        reject_blocks_outside_dart({"model": "gpt", "blocks": []}, "gpt")
        with self.assertRaisesRegex(ValueError, r"blocks\[0\]: pluggable blocks need model 'dart'"):
            reject_blocks_outside_dart({"model": "gpt", "blocks": [tau_in]}, "gpt")

    def test_strict_loading_of_block_tensors(self):
        model = DARTReference(self.config())
        tensors = {n: p.detach().clone() for n, p in model.named_parameters()}
        del tensors["block.mlp_input.daam.scale"], tensors["loop_output.tau_fusion.mix.1"]
        tensors["block.resid_mix"] = torch.zeros(2, 4, 16)
        tensors["block.mlp_input.daam.mix_logits"] = torch.zeros(2, 1)
        tensors["block.attn_output.head_gate.weight"] = torch.zeros(4, 8)
        with self.assertRaises(ValueError) as caught:
            model.load_named_tensors(tensors)
        message = str(caught.exception)
        self.assertIn("missing: block.mlp_input.daam.scale, loop_output.tau_fusion.mix.1", message)
        self.assertIn("unexpected: block.mlp_input.daam.mix_logits, block.resid_mix", message)
        self.assertIn("block.attn_output.head_gate.weight: file [4, 8] vs model [4, 16]", message)
        plain = {n: p.detach() for n, p in DARTReference(self.config(blocks=[])).named_parameters()}
        with self.assertRaisesRegex(ValueError, "missing: .*block.loop_input.tau_fusion.ctrl.0.fc.bias"):
            model.load_named_tensors(plain)

    def test_causal_with_every_block_at_every_site(self):
        for overrides, loops in (({}, None), ({"num_unique_blocks": 2, "num_loops": 3}, None), ({}, 3)):
            model = random_dart_model(self.config(overrides), seed=62).double()
            model.rope_dtype = torch.float64
            for position in (0, 4, 6):
                changed = self.ids.clone()
                changed[0, position] = (changed[0, position] + 5) % 40
                with torch.no_grad():
                    before = model.run(self.ids, self.targets, loops).loop_losses
                    after = model.run(changed, self.targets, loops).loop_losses
                for loop, (b, a) in enumerate(zip(before, after)):
                    b, a = b.view(2, 7), a.view(2, 7)
                    where = f"{overrides} loops={loops} position {position} loop {loop}"
                    self.assertTrue(torch.equal(b[0, :position], a[0, :position]), where)
                    self.assertTrue(torch.equal(b[1], a[1]), f"{where}: rows of a batch are independent")
                    self.assertFalse(torch.equal(b[0, position], a[0, position]), where)

    def assert_same_function_at_init(self, overrides, blocks, loops):
        """The plain model (random weights, resid_mix at (1, 0)) and one with `blocks` at their init
        and the same other weights compute bit-identical losses."""
        plain = random_dart_model(self.config(overrides, blocks=[]), seed=63).double()
        with torch.no_grad():
            for block in plain.block_list:
                block.resid_mix[0].fill_(1.0)
                block.resid_mix[1].fill_(0.0)
        plugged = DARTReference(self.config(overrides, blocks=blocks)).double()
        plugged.pr345_init(torch.Generator().manual_seed(64))
        tensors = {n: p.detach() for n, p in plugged.named_parameters()}
        tensors.update({n: p.detach() for n, p in plain.named_parameters() if not n.endswith("resid_mix")})
        plugged.load_named_tensors(tensors)
        for model in (plain, plugged):
            model.rope_dtype = torch.float64
        with torch.no_grad():
            want, got = plain.run(self.ids, self.targets, loops), plugged.run(self.ids, self.targets, loops)
        for loop, (w, g) in enumerate(zip(want.loop_losses, got.loop_losses)):
            self.assertTrue(torch.equal(w, g), f"{blocks} {overrides} loops={loops}: loop {loop} differs")
        self.assertTrue(torch.equal(want.logits, got.logits))
        self.assertEqual(float(want.loss), float(got.loss))

    def test_step0_tau_fusion_and_identity_head_gate_reproduce_the_plain_model(self):
        for overrides in ({}, {"num_unique_blocks": 2, "num_loops": 3}, {"num_loops": 5}):
            for loops in (None, 2):
                for blocks in ([EXACT_AT_INIT[0]], [EXACT_AT_INIT[2]], EXACT_AT_INIT,
                               [dict(EXACT_AT_INIT[0], skip_stream=False)]):
                    self.assert_same_function_at_init(overrides, blocks, loops)

    def test_init_rules(self):
        model = DARTReference(self.config())
        model.pr345_init(torch.Generator().manual_seed(65))
        tau_in, tau_out = model.block.loop_input.tau_fusion, model.loop_output.tau_fusion
        self.assertEqual([float(m[0]) for m in tau_in.mix], [2.0, 0.0, 0.0], "m / sigmoid(0) with m = (1, 0, 0)")
        self.assertEqual([float(m[0]) for m in tau_out.mix], [0.0, 0.0, 0.0, 2.0], "m = (0, ..., 0, 1)")
        for ctrl in list(tau_in.ctrl) + list(tau_out.ctrl):
            self.assertTrue(bool((ctrl.proj.weight == 0).all()) and bool((ctrl.proj.bias == 0).all()))
            self.assertTrue(bool((ctrl.fc.bias == 0).all()))
            bound = 1 / math.sqrt(ctrl.fc.weight.shape[1])
            self.assertLessEqual(float(ctrl.fc.weight.abs().max()), bound)
            self.assertGreater(float(ctrl.fc.weight.abs().max()), 0.5 * bound)
        self.assertGreater(float(tau_out.proj_out.weight.abs().max()), 0.0)
        self.assertGreater(float(model.block.attn_output.head_gate.weight.abs().max()), 0.0, "identity_init false")
        mlp_daam, out_daam = model.block.mlp_input.daam, model.block.block_output.daam
        self.assertTrue(bool((mlp_daam.offset == 0).all()), "N = 1: offset 0")
        self.assertGreater(float(out_daam.offset.std()), 0.2, "N > 1: N(0, 0.5^2)")
        self.assertTrue(bool((out_daam.scale == 2.0).all()) and bool((out_daam.mix_logits == 0).all()))
        logit = DARTReference(self.config(blocks=[{"type": "tau_fusion", "site": "loop_input", "init_logit": 1.5},
                                                  {"type": "daam", "site": "mlp_input", "init_scale": 0.75}]))
        logit.pr345_init(torch.Generator().manual_seed(66))
        tau = logit.block.loop_input.tau_fusion
        self.assertAlmostEqual(float(tau.ctrl[1].proj.bias[0]), 1.5)
        self.assertAlmostEqual(float(tau.mix[0][0]) / (1 + math.exp(-1.5)), 1.0, places=6)
        self.assertTrue(bool((logit.block.mlp_input.daam.scale == 0.75).all()))
        identity = DARTReference(self.config(blocks=[{"type": "head_gate", "site": "attn_output"}]))
        identity.pr345_init(torch.Generator().manual_seed(67))
        self.assertTrue(bool((identity.block.attn_output.head_gate.weight == 0).all()))
        self.assertEqual(identity.block.attn_output.head_gate.gain, 2.0)

    def test_skip_and_loop_output_streams(self):
        """Records every tau-fusion call: loop_input's skip stream is, on a decoder loop that adds
        a skip at its end, the encoder output that skip adds (else zeros); loop_output fuses the
        loop outputs, repeating the last run loop's past the run's loop count."""
        for overrides, loops in (({"num_unique_blocks": 2}, None), ({"num_loops": 5}, None), ({"num_loops": 5}, 3)):
            model = random_dart_model(self.config(overrides, blocks=[EVERY_SITE[0], EVERY_SITE[4]]), seed=68).double()
            calls = {"in": [], "out": []}
            model.block_list[0].loop_input.tau_fusion.register_forward_hook(lambda m, a, o: calls["in"].append(a[0]))
            model.loop_output.tau_fusion.register_forward_hook(lambda m, a, o: calls["out"].append(a[0]))
            with torch.no_grad():
                model.run(self.ids, self.targets, loops)
            L = model.config.num_loops
            n = loops or L
            n_enc = n // 2
            # Stream 0 of block 0's call at loop l + 1 is loop l's output (after its skip).
            outputs = [calls["in"][l + 1][0] for l in range(n - 1)]
            for loop, streams in enumerate(calls["in"]):
                self.assertEqual(len(streams), 3)
                j = loop - n_enc
                if 0 <= j < min(n_enc, n - n_enc):
                    self.assertTrue(torch.equal(streams[2], outputs[n_enc - 1 - j]), f"{overrides} loop {loop}")
                else:
                    self.assertTrue(bool((streams[2] == 0).all()), f"{overrides} loop {loop}: no skip, zeros")
            self.assertEqual(len(calls["out"]), 1, "only the last run loop's head reads the fusion")
            fused = calls["out"][0]
            self.assertEqual(len(fused), L)
            for i in range(n - 1):
                self.assertTrue(torch.equal(fused[i], outputs[i]))
            for i in range(n, L):
                self.assertTrue(torch.equal(fused[i], fused[n - 1]), "streams past the run's loops repeat its last")

    def test_gradients_with_every_block_at_every_site(self):
        from torch.nn.utils.stateless import functional_call

        cfg = dart_fixture_config({"vocab_size": 11, "model_dim": 8, "num_heads": 2, "num_kv_heads": 1, "num_loops": 3,
                                   "num_memory_tokens": 2, "delta_rank": 2, "mlp_mult": 1, "qat_wq": False,
                                   "blocks": [dict(b, hidden=2) if b["type"] == "tau_fusion" else
                                              dict(b, groups=2) if "groups" in b else b for b in EVERY_SITE]})
        model = random_dart_model(cfg, seed=69).double()
        model.rope_dtype = torch.float64
        ids, targets = random_batch(11, 1, 4, seed=70)
        names = [n for n, _ in model.named_parameters()]

        def losses(*params):
            out = functional_call(model, dict(zip(names, params)), (ids, targets))
            return out[0], out[1]

        params = [p.detach().clone().requires_grad_(True) for p in model.parameters()]
        self.assertTrue(torch.autograd.gradcheck(losses, params, eps=1e-6, atol=1e-6, rtol=1e-5, fast_mode=True))

    def test_optimizer_groups_follow_the_block_tables(self):
        model = DARTReference(self.config({"num_unique_blocks": 2}))
        optim = build_optimizers(model)
        where = {}
        for opt in optim.optimizers:
            for group in opt.param_groups:
                for p in group["params"]:
                    self.assertNotIn(id(p), where, "every parameter is in exactly one optimizer")
                    where[id(p)] = (type(opt).__name__, group["lr"])
        named = dict(model.named_parameters())
        self.assertEqual(len(where), len(named))
        muon = {n for n, p in named.items() if where[id(p)][0] == "Muon"}
        expected = {f"blocks.{b}.{s}" for b in range(2) for s in (
            "attn.c_q.weight", "attn.c_k.weight", "attn.c_v.weight", "attn.proj.weight", "mlp.fc.weight",
            "mlp.proj.weight")}
        expected |= {f"blocks.{b}.loop_input.tau_fusion.ctrl.{i}.{layer}.weight"
                     for b in range(2) for i in range(3) for layer in ("fc", "proj")}
        expected |= {f"loop_output.tau_fusion.ctrl.{i}.{layer}.weight" for i in range(4) for layer in ("fc", "proj")}
        expected |= {f"loop_output.tau_fusion.proj_in.{i}.weight" for i in range(4)} | {"loop_output.tau_fusion.proj_out.weight"}
        self.assertEqual(muon, expected)
        for name in ("blocks.1.mlp_input.daam.offset", "blocks.0.attn_output.daam.mix_logits",
                     "blocks.0.block_output.daam.scale", "blocks.1.loop_input.tau_fusion.mix.2",
                     "blocks.0.loop_input.tau_fusion.ctrl.1.fc.bias", "loop_output.tau_fusion.ctrl.3.proj.bias",
                     "loop_output.tau_fusion.mix.0", "blocks.0.attn_output.head_gate.weight"):
            self.assertEqual(where[id(named[name])], ("Adam", 0.04), name)

    def test_oracle_cli_with_blocks(self):
        with tempfile.TemporaryDirectory() as tmp:
            model = random_dart_model(dart_fixture_config({"blocks": EVERY_SITE}), seed=71)
            ids, targets = random_batch(64, 2, 8, seed=72)
            ckpt, batch = os.path.join(tmp, "c.safetensors"), os.path.join(tmp, "b.safetensors")
            write_checkpoint(ckpt, model)
            write_batch(batch, ids, targets)
            out = os.path.join(tmp, "o.safetensors")
            self.assertEqual(oracle_main(["grads", "--float64", "--loops", "3", "--checkpoint", ckpt, "--batch", batch,
                                          "--out", out]), 0)
            grads = read_safetensors(out)[0]
            params = dict(model.named_parameters())
            self.assertEqual({n for n in grads if n.startswith("grad.")}, {f"grad.{n}" for n in params})
            for name in params:
                if not name.startswith("loop_output."):  # the last run loop's head (loop 2) reads the fusion
                    continue
                self.assertGreater(float(grads[f"grad.{name}"].abs().max()), 0.0, name)
            # The run config written by C++ may hold `blocks` as JSON text: the same model.
            text = os.path.join(tmp, "text.safetensors")
            raw = json.loads(config_json(model.config))
            raw["blocks"] = json.dumps(raw["blocks"])
            write_safetensors(text, {n: p.detach() for n, p in params.items()},
                              {"format": CHECKPOINT_FORMAT, "config": json.dumps(raw)})
            again = os.path.join(tmp, "again.safetensors")
            self.assertEqual(oracle_main(["steps", "--steps", "2", "--float64", "--checkpoint", text, "--batch", batch,
                                          "--out", again]), 0)
            self.assertEqual(set(read_safetensors(again)[0]), set(params) | {"loss.0", "loss.1"})
            gpt = os.path.join(tmp, "gpt.safetensors")
            gpt_model = random_model(fixture_config(), seed=3)
            write_safetensors(gpt, {n: p.detach() for n, p in gpt_model.named_parameters()},
                              {"format": CHECKPOINT_FORMAT,
                               "config": json.dumps({**json.loads(config_json(gpt_model.config)), "blocks": EVERY_SITE[:1]})})
            stderr = io.StringIO()
            with contextlib.redirect_stderr(stderr):
                code = oracle_main(["grads", "--checkpoint", gpt, "--batch", batch, "--out", gpt + ".out"])
            self.assertEqual(code, 2)
            self.assertIn("pluggable blocks need model 'dart'", stderr.getvalue())


if __name__ == "__main__":
    unittest.main()
