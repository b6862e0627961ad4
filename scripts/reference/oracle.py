#!/usr/bin/python3
"""Reference oracle for dartgolf's C++ tests (see docs/oracle.md).

  oracle.py grads --checkpoint C.safetensors --batch B.safetensors --out O.safetensors [--float64]
      O: loss F32[1], per_token_loss F32[B*T], logits F32[B*T,V] (after softcap),
         grad.<param> F32 (gradient of the mean loss) for every parameter.
         DART checkpoints (config "model": "dart"): loss is the deep-supervision training loss,
         per_token_loss and logits are the last loop's, plus per_token_loss_loop<i> F32[B*T] for
         every loop and eval_loss F32[1] (the scored loss, per the config's eval_loss). The config's
         `blocks` (docs/blocks.md) plugs blocks into DART; their tensors are checkpoint tensors too.
  oracle.py steps --checkpoint C --batch B --steps N --out O [--float64] [--lr-mul M] [--start-step S]
      Runs N optimizer steps on the same batch. O: every parameter (same names, F32) after the
      steps, and loss.<k> F32[1], the (training) loss at step k before its update.

  oracle.py block --inputs I.safetensors --out O.safetensors [--float64]
      One pluggable block (blocks_reference.py, docs/blocks.md). I: metadata "block" (tau_fusion,
      daam or head_gate) and "config" (JSON: the block's sizes), the inputs (stream.<i> | x | x,
      attn), every parameter by its suffix name (mix.0, offset, weight, ...) and dout, the upstream
      gradient. O: out, the block's interpretability output (tau | density | gate) and grad.<name>
      for every input and parameter, of L = sum(dout * out).

grads and steps take --rope-precision float32|float64 (rotary tables as train_gpt.py builds them, in
fp32, or in fp64), --threads N, and for DART --loops N (run N <= num_loops loops, as loop dropout
does); block takes --threads N. Run it with Debian's /usr/bin/python3 (torch 1.13).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Dict, Optional, Tuple

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from block_spec_reference import reject_blocks_outside_dart  # noqa: E402
from blocks_reference import read_block_file, run_block  # noqa: E402
from dart_reference import MODEL_NAME as DART_MODEL_NAME, DARTReference, build_dart  # noqa: E402
from gpt_reference import GPTConfig, GPTReference, config_model_name, read_checkpoint, state_tensors  # noqa: E402
from optim_reference import build_optimizers  # noqa: E402
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402


def load_batch(path: str) -> Tuple[torch.Tensor, torch.Tensor]:
    tensors, _ = read_safetensors(path)
    missing = [name for name in ("input_ids", "target_ids") if name not in tensors]
    if missing:
        raise ValueError(f"{path}: batch file lacks {', '.join(missing)} (integer tensors of shape [B, T])")
    ids = tensors["input_ids"]
    targets = tensors["target_ids"]
    for name, t in (("input_ids", ids), ("target_ids", targets)):
        if t.is_floating_point() or t.dtype == torch.bool or t.dim() != 2:
            raise ValueError(f"{path}: {name} must be an integer tensor of shape [B, T], got {t.dtype} {list(t.shape)}")
    if ids.shape != targets.shape:
        raise ValueError(f"{path}: input_ids {list(ids.shape)} and target_ids {list(targets.shape)} differ in shape")
    return ids.long(), targets.long()


def load_model(path: str, dtype: torch.dtype = torch.float32, rope_dtype: torch.dtype = torch.float32):
    """The checkpoint's model, gpt or dart by its config's "model" key, with its tensors loaded."""
    tensors, _, raw = read_checkpoint(path)
    name = config_model_name(raw)
    if name == "gpt":
        reject_blocks_outside_dart(raw, name, f"{path} config")
        config = GPTConfig.from_dict(raw, origin=f"{path} config")
        model = GPTReference(config, rope_dtype=rope_dtype).to(dtype)
        model.load_named_tensors(tensors, origin=path)
        return model
    if name == DART_MODEL_NAME:
        return build_dart(raw, tensors, path, dtype, rope_dtype)[0]
    raise ValueError(f"{path} config: model {name!r} is not implemented by the reference oracle (gpt, dart)")


def forward(model, ids: torch.Tensor, targets: torch.Tensor, loops: Optional[int]):
    if isinstance(model, DARTReference):
        return model(ids, targets, loops)
    if loops is not None:
        raise ValueError("--loops applies to DART checkpoints only")
    return model(ids, targets)


def compute_grads(model, ids: torch.Tensor, targets: torch.Tensor, loops: Optional[int] = None) -> Dict[str, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    out: Dict[str, torch.Tensor] = {}
    if isinstance(model, DARTReference):
        run = model.run(ids, targets, loops)
        loss, per_token, logits = run.loss, run.per_token, run.logits
        out["eval_loss"] = run.eval_loss.detach().reshape(1).float()
        for i, loop_loss in enumerate(run.loop_losses):
            out[f"per_token_loss_loop{i}"] = loop_loss.detach().float()
    else:
        loss, per_token, logits = forward(model, ids, targets, loops)
    loss.backward()
    out.update(
        {
            "loss": loss.detach().reshape(1).float(),
            "per_token_loss": per_token.detach().float(),
            "logits": logits.detach().float(),
        }
    )
    for name, p in model.named_parameters():
        grad = p.grad if p.grad is not None else torch.zeros_like(p)
        out[f"grad.{name}"] = grad.detach().float().contiguous()
    return out


def run_steps(
    model, ids: torch.Tensor, targets: torch.Tensor, steps: int, lr_mul: float, start_step: int,
    loops: Optional[int] = None,
) -> Dict[str, torch.Tensor]:
    optim = build_optimizers(model)
    losses = []
    for k in range(steps):
        optim.zero_grad()
        loss, _, _ = forward(model, ids, targets, loops)
        loss.backward()
        losses.append(loss.detach().reshape(1).float())
        optim.step(start_step + k, lr_mul)
    out: Dict[str, torch.Tensor] = dict(state_tensors(model, torch.float32))
    for k, loss in enumerate(losses):
        out[f"loss.{k}"] = loss
    return out


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("grads", "steps"):
        p = sub.add_parser(name)
        p.add_argument("--checkpoint", required=True)
        p.add_argument("--batch", required=True)
        p.add_argument("--out", required=True)
        p.add_argument("--float64", action="store_true", help="compute in float64 (outputs stay F32)")
        p.add_argument("--rope-precision", choices=("float32", "float64"), default="float32")
        p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
        p.add_argument("--loops", type=int, default=None, help="DART only: run this many loops (1..num_loops)")
        if name == "steps":
            p.add_argument("--steps", type=int, required=True)
            p.add_argument("--lr-mul", type=float, default=1.0)
            p.add_argument("--start-step", type=int, default=0, help="0-based step index of the first step (Muon momentum warm-up)")
    block = sub.add_parser("block")
    block.add_argument("--inputs", required=True)
    block.add_argument("--out", required=True)
    block.add_argument("--float64", action="store_true", help="compute in float64 (outputs stay F32)")
    block.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.command == "steps" and (args.steps < 0 or args.start_step < 0):
        parser.error("--steps and --start-step must be non-negative")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    dtype = torch.float64 if args.float64 else torch.float32
    if args.command == "block":
        try:
            kind, config, tensors = read_block_file(args.inputs)
            out = run_block(kind, config, tensors, dtype, origin=args.inputs)
            write_safetensors(args.out, out, {"format": "dartgolf-oracle-v1", "command": "block", "block": kind})
        except (ValueError, OSError) as exc:
            print(f"oracle.py: error: {exc}", file=sys.stderr)
            return 2
        return 0
    rope_dtype = torch.float64 if args.rope_precision == "float64" else torch.float32
    try:
        model = load_model(args.checkpoint, dtype=dtype, rope_dtype=rope_dtype)
        ids, targets = load_batch(args.batch)
        if args.command == "grads":
            out = compute_grads(model, ids, targets, args.loops)
        else:
            out = run_steps(model, ids, targets, args.steps, args.lr_mul, args.start_step, args.loops)
        write_safetensors(args.out, out, {"format": "dartgolf-oracle-v1", "command": args.command})
    except (ValueError, OSError) as exc:
        print(f"oracle.py: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
