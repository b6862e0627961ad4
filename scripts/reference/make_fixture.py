#!/usr/bin/python3
"""Writes a small random gpt or dart checkpoint and a token batch for testing the oracle standalone.

  make_fixture.py --checkpoint C.safetensors --batch B.safetensors [--model gpt|dart] [--seed S]
                  [--batch-size B] [--untied] [--set key=value ...]

Default gpt model: vocab 64, 3 layers, d 32, 4 heads, 2 KV heads, mlp_mult 2, seq 16.
Default dart model: vocab 64, d 32, 4 heads, 2 KV heads, mlp_mult 2, 1 block x 4 loops, 4 memory
tokens, delta rank 4, seq 16, attention "diff", qat_wq on (--set num_unique_blocks=2,
--set attention=diff_v2, ... change it).
Unlike the challenge's (or the PR's) init, the output projections (an untied head, DART's delta_B)
are random, not zero, and every control tensor is perturbed away from its init value, so that
every gradient is non-trivial; so is every pluggable block tensor (--set blocks='[...]').
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
from typing import Dict, Tuple

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dart_reference import DARTConfig, DARTReference  # noqa: E402
from gpt_reference import CHECKPOINT_FORMAT, GPTConfig, GPTReference, state_tensors  # noqa: E402
from safetensors_io import write_safetensors  # noqa: E402

FIXTURE_CONFIG = dict(
    vocab_size=64, num_layers=3, model_dim=32, num_heads=4, num_kv_heads=2, mlp_mult=2, train_seq_len=16
)
DART_FIXTURE_CONFIG = dict(
    vocab_size=64, model_dim=32, num_heads=4, num_kv_heads=2, mlp_mult=2, train_seq_len=16,
    num_unique_blocks=1, num_loops=4, num_memory_tokens=4, delta_rank=4,
)


def fixture_config(overrides: Dict[str, object] = None) -> GPTConfig:
    values = dict(FIXTURE_CONFIG)
    values.update(overrides or {})
    return GPTConfig.from_dict(values, origin="fixture")


@torch.no_grad()
def random_model(config: GPTConfig, seed: int, embed_std: float = 0.2) -> GPTReference:
    gen = torch.Generator().manual_seed(seed)
    model = GPTReference(config)
    model.challenge_init(gen)
    model.tok_emb.weight.normal_(0.0, embed_std, generator=gen)
    zero_inits = [layer for block in model.blocks for layer in (block.attn.proj, block.mlp.proj)]
    if model.lm_head is not None:
        zero_inits.append(model.lm_head)
    for linear in zero_inits:
        bound = 1.0 / math.sqrt(linear.weight.shape[1])
        linear.weight.uniform_(-bound, bound, generator=gen)

    def jitter(t: torch.Tensor, scale: float) -> None:
        t.add_(scale * torch.randn(t.shape, generator=gen))

    for block in model.blocks:
        jitter(block.attn.q_gain, 0.2)
        jitter(block.attn_scale, 0.1)
        jitter(block.mlp_scale, 0.1)
        jitter(block.resid_mix, 0.2)
    jitter(model.skip_weights, 0.1)
    return model


def dart_fixture_config(overrides: Dict[str, object] = None) -> DARTConfig:
    values = dict(DART_FIXTURE_CONFIG)
    values.update(overrides or {})
    return DARTConfig.from_dict(values, origin="fixture")


@torch.no_grad()
def random_dart_model(config: DARTConfig, seed: int, embed_std: float = 0.2) -> DARTReference:
    """The PR's init, then the zero-initialised tensors made random and every control tensor
    jittered, so that every gradient (and the DIFF lambdas, skips, mixes) matters."""
    gen = torch.Generator().manual_seed(seed)
    model = DARTReference(config)
    model.pr345_init(gen)
    model.tok_emb.weight.normal_(0.0, embed_std, generator=gen)

    def jitter(t: torch.Tensor, scale: float) -> None:
        t.add_(scale * torch.randn(t.shape, generator=gen))

    for block in model.block_list:
        for linear in (block.attn.proj, block.mlp.proj):
            bound = 1.0 / math.sqrt(linear.weight.shape[1])
            linear.weight.uniform_(-bound, bound, generator=gen)
        block.attn.delta_B.normal_(0.0, 0.3, generator=gen)
        jitter(block.attn.q_gain, 0.2)
        jitter(block.attn_scale, 0.1)
        jitter(block.mlp_scale, 0.1)
        if hasattr(block, "resid_mix"):  # absent when a loop_input tau-fusion replaces it
            jitter(block.resid_mix, 0.2)
        jitter(block.loop_embed.weight, 0.1)
    # Block tensors leave their init (zero controller outputs, uniform taus, a one-hot mix).
    for _, _, _, p in model.plugged_named_parameters():
        jitter(p, 0.2)
    jitter(model.memory, 0.5)
    jitter(model.skip_weights, 0.1)
    return model


def random_batch(vocab_size: int, batch_size: int, seq_len: int, seed: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Rows of a random token stream: targets are the inputs shifted by one, as the loader makes them."""
    gen = torch.Generator().manual_seed(seed)
    stream = torch.randint(0, vocab_size, (batch_size, seq_len + 1), generator=gen, dtype=torch.int64)
    return stream[:, :-1].to(torch.int32).contiguous(), stream[:, 1:].to(torch.int32).contiguous()


def config_json(config) -> str:
    values = dataclasses.asdict(config)
    values["model"] = "dart" if isinstance(config, DARTConfig) else "gpt"
    return json.dumps(values, sort_keys=True)


def write_checkpoint(path: str, model) -> None:
    metadata = {"format": CHECKPOINT_FORMAT, "config": config_json(model.config)}
    write_safetensors(path, state_tensors(model, torch.float32), metadata)


def write_batch(path: str, input_ids: torch.Tensor, target_ids: torch.Tensor) -> None:
    write_safetensors(path, {"input_ids": input_ids.to(torch.int32), "target_ids": target_ids.to(torch.int32)})


def parse_set(assignments) -> Dict[str, object]:
    out = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"make_fixture.py: --set expects key=value, got {item!r}")
        try:
            out[key.strip().lower()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip().lower()] = value
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--batch", required=True)
    parser.add_argument("--model", choices=("gpt", "dart"), default="gpt")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--seq-len", type=int, default=0, help="tokens per row (0: the config's train_seq_len)")
    parser.add_argument("--embed-std", type=float, default=0.2)
    parser.add_argument("--untied", action="store_true", help="gpt only: tie_embeddings=false (adds lm_head.weight)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    args = parser.parse_args(argv)

    overrides = parse_set(args.set)
    if args.untied:
        overrides["tie_embeddings"] = False
    try:
        config = dart_fixture_config(overrides) if args.model == "dart" else fixture_config(overrides)
    except ValueError as exc:
        print(f"make_fixture.py: error: {exc}", file=sys.stderr)
        return 2
    build = random_dart_model if args.model == "dart" else random_model
    model = build(config, args.seed, args.embed_std)
    seq_len = args.seq_len or config.train_seq_len
    ids, targets = random_batch(config.vocab_size, args.batch_size, seq_len, args.seed + 1)
    write_checkpoint(args.checkpoint, model)
    write_batch(args.batch, ids, targets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
