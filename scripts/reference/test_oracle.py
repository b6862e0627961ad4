#!/usr/bin/python3
"""Self-test of the reference oracle: `/usr/bin/python3 scripts/reference/test_oracle.py`.

Checks the safetensors reader/writer, the model against a naive NumPy re-implementation written
separately below, causality, gradients against finite differences (fp64), the CLI's file contract,
and the optimizers (Muon's orthogonalisation, first-step updates, loss going down).
"""

from __future__ import annotations

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

from gpt_reference import CHECKPOINT_FORMAT, GPTConfig, GPTReference, load_checkpoint  # noqa: E402
from make_fixture import config_json, fixture_config, random_batch, random_model, write_batch, write_checkpoint  # noqa: E402
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


if __name__ == "__main__":
    unittest.main()
