"""An independent PyTorch implementation of the challenge's baseline GPT (train_gpt.py's `GPT`).

It exists to check dartgolf's C++ model: same parameter names and shapes as train_gpt.py's
state_dict, same arithmetic, but plain fp32 (or fp64) on CPU with no compile, no autocast, and
every op torch 1.13 lacks (RMSNorm, grouped-query attention) written out by hand.

The forward pass, in order:
  x0 = rmsnorm(tok_emb[ids]);  x = x0
  block i:  x = resid_mix[0]*x + resid_mix[1]*x0
            x = x + attn_scale * attention(rmsnorm(x))
            x = x + mlp_scale * proj(relu(fc(rmsnorm(x)))^2)
  U-Net: the first floor(L/2) blocks push their outputs; before each later block j (counting from
         0 within the second half) x += skip_weights[j] * (most recent unpopped push)
  logits = softcap * tanh((rmsnorm(x) @ W_out^T) / softcap), W_out = tok_emb (tied) or lm_head
  loss   = mean over all B*T positions of cross-entropy(logits, target)
attention(h): q,k,v projections; per-head RMSNorm of q and k; rotary (half split) on q and k;
  q *= q_gain[head]; causal softmax(q k^T / sqrt(head_dim)) v with query head h reading KV head
  h // (num_heads / num_kv_heads); output projection.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from safetensors_io import read_safetensors

# train_gpt.py calls F.rms_norm with eps=None, which means finfo(dtype).eps of an fp32 tensor.
# The oracle keeps that constant in fp64 mode too, so fp64 runs differ from fp32 runs only by
# rounding, not by a different model.
RMS_NORM_EPS = float(torch.finfo(torch.float32).eps)

CHECKPOINT_FORMAT = "dartgolf-checkpoint-v1"

# Substrings that mark a block tensor as a "control" tensor (scalar Adam, never Muon) in
# train_gpt.py's CONTROL_TENSOR_NAME_PATTERNS default.
CONTROL_NAME_PATTERNS = (
    "attn_scale",
    "attn_scales",
    "mlp_scale",
    "mlp_scales",
    "resid_mix",
    "resid_mixes",
    "q_gain",
    "skip_weight",
    "skip_weights",
)


@dataclass
class GPTConfig:
    """The run-config keys the model and the optimizers read; defaults are the challenge's."""

    vocab_size: int = 1024
    num_layers: int = 9
    model_dim: int = 512
    num_heads: int = 8
    num_kv_heads: int = 4
    mlp_mult: int = 2
    tie_embeddings: bool = True
    rope_base: float = 10000.0
    logit_softcap: float = 30.0
    qk_gain_init: float = 1.5
    tied_embed_init_std: float = 0.005
    train_seq_len: int = 1024
    # optimizer
    embed_lr: float = 0.6
    head_lr: float = 0.008
    tied_embed_lr: float = 0.05
    matrix_lr: float = 0.04
    scalar_lr: float = 0.04
    muon_momentum: float = 0.95
    muon_backend_steps: int = 5
    muon_momentum_warmup_start: float = 0.85
    muon_momentum_warmup_steps: int = 500
    beta1: float = 0.9
    beta2: float = 0.95
    adam_eps: float = 1e-8
    grad_clip_norm: float = 0.0

    @classmethod
    def from_json_text(cls, text: str, origin: str = "config") -> "GPTConfig":
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{origin}: config is not valid JSON ({exc})") from None
        if not isinstance(raw, dict):
            raise ValueError(f"{origin}: config must be a JSON object")
        return cls.from_dict(raw, origin)

    @classmethod
    def from_dict(cls, raw: Dict[str, object], origin: str = "config") -> "GPTConfig":
        values = {str(k).lower(): v for k, v in raw.items()}
        model = values.get("model", "gpt")
        if model != "gpt":
            raise ValueError(f"{origin}: model {model!r} is not the baseline (GPTConfig reads only 'gpt'; 'dart' is dart_reference.DARTConfig)")
        kwargs = {}
        for field in fields(cls):
            if field.name in values:
                kwargs[field.name] = _coerce(values[field.name], field.type, f"{origin}: key {field.name!r}")
        config = cls(**kwargs)
        config.validate(origin)
        return config

    def validate(self, origin: str = "config") -> None:
        problems = []
        for name in ("vocab_size", "num_layers", "model_dim", "num_heads", "num_kv_heads", "mlp_mult"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be positive")
        if self.num_heads > 0 and self.model_dim % self.num_heads:
            problems.append("model_dim must be divisible by num_heads")
        elif self.num_heads > 0 and (self.model_dim // self.num_heads) % 2:
            problems.append("head_dim (model_dim/num_heads) must be even for rotary")
        if self.num_kv_heads > 0 and self.num_heads % self.num_kv_heads:
            problems.append("num_heads must be divisible by num_kv_heads")
        if self.logit_softcap <= 0:
            problems.append("logit_softcap must be positive")
        if problems:
            raise ValueError(f"{origin}: " + "; ".join(problems))

    @property
    def head_dim(self) -> int:
        return self.model_dim // self.num_heads


def _coerce(value: object, type_name: object, where: str):
    type_name = getattr(type_name, "__name__", type_name)
    if type_name == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in ("0", "1", "true", "false"):
            return value.strip().lower() in ("1", "true")
        raise ValueError(f"{where}: expected a boolean, got {value!r}")
    if type_name == "int":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(f"{where}: expected an integer, got {value!r}")
        number = float(value)
        if not number.is_integer():
            raise ValueError(f"{where}: expected an integer, got {value!r}")
        return int(number)
    if type_name == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(f"{where}: expected a number, got {value!r}")
        return float(value)
    raise AssertionError(f"unhandled config type {type_name}")


def rms_norm(x: Tensor) -> Tensor:
    """x / sqrt(mean(x^2 over the last axis) + eps), no learned gain (as train_gpt.py)."""
    return x * torch.rsqrt(x.square().mean(dim=-1, keepdim=True) + RMS_NORM_EPS)


def rotary_tables(seq_len: int, head_dim: int, base: float, table_dtype: torch.dtype) -> Tuple[Tensor, Tensor]:
    """cos/sin of shape [seq_len, head_dim/2]: angle(t, j) = t * base^(-2j/head_dim).

    With table_dtype=float32 this reproduces train_gpt.py's fp32 tables bit for bit in torch
    (inverse frequencies, the position*frequency product, and cos/sin all rounded to fp32).
    """
    exponents = torch.arange(0, head_dim, 2, dtype=table_dtype) / head_dim
    inv_freq = 1.0 / (base**exponents)
    positions = torch.arange(seq_len, dtype=table_dtype)
    angles = positions[:, None] * inv_freq[None, :]
    return angles.cos(), angles.sin()


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Half-split rotation of x [..., T, head_dim]: (x1, x2) -> (x1 cos + x2 sin, -x1 sin + x2 cos)."""
    half = x.shape[-1] // 2
    x1 = x[..., :half]
    x2 = x[..., half:]
    return torch.cat((x1 * cos + x2 * sin, x2 * cos - x1 * sin), dim=-1)


class Attention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        d, hd = config.model_dim, config.head_dim
        self.num_heads = config.num_heads
        self.num_kv_heads = config.num_kv_heads
        self.head_dim = hd
        self.c_q = nn.Linear(d, config.num_heads * hd, bias=False)
        self.c_k = nn.Linear(d, config.num_kv_heads * hd, bias=False)
        self.c_v = nn.Linear(d, config.num_kv_heads * hd, bias=False)
        self.proj = nn.Linear(config.num_heads * hd, d, bias=False)
        self.q_gain = nn.Parameter(torch.full((config.num_heads,), config.qk_gain_init))

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        batch, seq, _ = x.shape

        def heads(t: Tensor, count: int) -> Tensor:  # [B, T, count*hd] -> [B, count, T, hd]
            return t.reshape(batch, seq, count, self.head_dim).permute(0, 2, 1, 3)

        q = heads(x @ self.c_q.weight.t(), self.num_heads)
        k = heads(x @ self.c_k.weight.t(), self.num_kv_heads)
        v = heads(x @ self.c_v.weight.t(), self.num_kv_heads)
        q = apply_rotary(rms_norm(q), cos, sin) * self.q_gain[None, :, None, None]
        k = apply_rotary(rms_norm(k), cos, sin)

        # Grouped-query attention: consecutive query heads share one KV head.
        group = self.num_heads // self.num_kv_heads
        k = k.repeat_interleave(group, dim=1)
        v = v.repeat_interleave(group, dim=1)

        scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        future = torch.ones(seq, seq, dtype=torch.bool).triu(diagonal=1)
        scores = scores.masked_fill(future, float("-inf"))
        y = torch.softmax(scores, dim=-1) @ v  # [B, H, T, hd]
        y = y.permute(0, 2, 1, 3).reshape(batch, seq, self.num_heads * self.head_dim)
        return y @ self.proj.weight.t()


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        hidden = config.mlp_mult * config.model_dim
        self.fc = nn.Linear(config.model_dim, hidden, bias=False)
        self.proj = nn.Linear(hidden, config.model_dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        h = torch.relu(x @ self.fc.weight.t())
        return h.square() @ self.proj.weight.t()


class Block(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        d = config.model_dim
        self.attn = Attention(config)
        self.mlp = MLP(config)
        self.attn_scale = nn.Parameter(torch.ones(d))
        self.mlp_scale = nn.Parameter(torch.ones(d))
        self.resid_mix = nn.Parameter(torch.stack((torch.ones(d), torch.zeros(d))))

    def forward(self, x: Tensor, x0: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        x = self.resid_mix[0] * x + self.resid_mix[1] * x0
        x = x + self.attn_scale * self.attn(rms_norm(x), cos, sin)
        x = x + self.mlp_scale * self.mlp(rms_norm(x))
        return x


class GPTReference(nn.Module):
    def __init__(self, config: GPTConfig, rope_dtype: torch.dtype = torch.float32):
        super().__init__()
        config.validate()
        self.config = config
        # Rotary tables default to fp32 as in train_gpt.py; float64 gives exact-math tables.
        self.rope_dtype = rope_dtype
        self.tok_emb = nn.Embedding(config.vocab_size, config.model_dim)
        self.num_encoder_layers = config.num_layers // 2
        self.num_decoder_layers = config.num_layers - self.num_encoder_layers
        num_skips = min(self.num_encoder_layers, self.num_decoder_layers)
        self.skip_weights = nn.Parameter(torch.ones(num_skips, config.model_dim))
        self.blocks = nn.ModuleList([Block(config) for _ in range(config.num_layers)])
        self.lm_head = None if config.tie_embeddings else nn.Linear(config.model_dim, config.vocab_size, bias=False)

    # ----- initialisation (train_gpt.py's, used by make_fixture) -----
    @torch.no_grad()
    def challenge_init(self, generator: torch.Generator) -> None:
        """Initialises as train_gpt.py does: nn.Linear's U(+-1/sqrt(fan_in)) for q/k/v/fc, zeros for
        the output projections and lm_head, N(0, tied_embed_init_std) tied embedding (N(0,1) untied),
        q_gain = qk_gain_init, scales and skip weights 1, resid_mix (1, 0)."""
        cfg = self.config
        std = cfg.tied_embed_init_std if cfg.tie_embeddings else 1.0
        self.tok_emb.weight.normal_(0.0, std, generator=generator)
        for block in self.blocks:
            for linear in (block.attn.c_q, block.attn.c_k, block.attn.c_v, block.mlp.fc):
                bound = 1.0 / math.sqrt(linear.weight.shape[1])
                linear.weight.uniform_(-bound, bound, generator=generator)
            block.attn.proj.weight.zero_()
            block.mlp.proj.weight.zero_()
            block.attn.q_gain.fill_(cfg.qk_gain_init)
            block.attn_scale.fill_(1.0)
            block.mlp_scale.fill_(1.0)
            block.resid_mix[0].fill_(1.0)
            block.resid_mix[1].fill_(0.0)
        self.skip_weights.fill_(1.0)
        if self.lm_head is not None:
            self.lm_head.weight.zero_()

    # ----- loading -----
    @torch.no_grad()
    def load_named_tensors(self, tensors: Dict[str, Tensor], origin: str = "checkpoint") -> None:
        """Copies every parameter from `tensors`; names and shapes must match exactly."""
        params = dict(self.named_parameters())
        missing = sorted(set(params) - set(tensors))
        unexpected = sorted(set(tensors) - set(params))
        wrong_shape = [
            f"{name}: file {list(tensors[name].shape)} vs model {list(p.shape)}"
            for name, p in params.items()
            if name in tensors and tuple(tensors[name].shape) != tuple(p.shape)
        ]
        not_float = [name for name in params if name in tensors and not tensors[name].is_floating_point()]
        if missing or unexpected or wrong_shape or not_float:
            lines = [f"{origin}: tensors do not match the gpt model built from its config"]
            if missing:
                lines.append("  missing: " + ", ".join(missing))
            if unexpected:
                lines.append("  unexpected: " + ", ".join(unexpected))
            if wrong_shape:
                lines.append("  wrong shape: " + "; ".join(wrong_shape))
            if not_float:
                lines.append("  not floating point: " + ", ".join(not_float))
            raise ValueError("\n".join(lines))
        for name, p in params.items():
            p.copy_(tensors[name].to(p.dtype))

    # ----- forward -----
    def forward(self, input_ids: Tensor, target_ids: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Returns (mean loss, per-token losses [B*T], softcapped logits [B*T, V])."""
        if input_ids.dim() != 2 or input_ids.shape != target_ids.shape:
            raise ValueError(f"input_ids {list(input_ids.shape)} and target_ids {list(target_ids.shape)} must both be [B, T]")
        vocab = self.config.vocab_size
        for label, ids in (("input_ids", input_ids), ("target_ids", target_ids)):
            if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab):
                raise ValueError(f"{label} hold ids outside [0, {vocab})")
        input_ids = input_ids.long()
        target_ids = target_ids.long()
        dtype = self.tok_emb.weight.dtype
        seq = input_ids.shape[1]
        cos, sin = rotary_tables(seq, self.config.head_dim, self.config.rope_base, self.rope_dtype)
        cos, sin = cos.to(dtype), sin.to(dtype)

        x = rms_norm(self.tok_emb.weight[input_ids])
        x0 = x
        skips = []
        for i in range(self.num_encoder_layers):
            x = self.blocks[i](x, x0, cos, sin)
            skips.append(x)
        for j in range(self.num_decoder_layers):
            if skips:
                x = x + self.skip_weights[j] * skips.pop()
            x = self.blocks[self.num_encoder_layers + j](x, x0, cos, sin)

        h = rms_norm(x).reshape(-1, self.config.model_dim)
        out_weight = self.tok_emb.weight if self.lm_head is None else self.lm_head.weight
        cap = self.config.logit_softcap
        logits = cap * torch.tanh((h @ out_weight.t()) / cap)
        targets = target_ids.reshape(-1)
        per_token = torch.logsumexp(logits, dim=-1) - logits.gather(1, targets[:, None]).squeeze(1)
        return per_token.mean(), per_token, logits


def is_control_name(name: str) -> bool:
    return any(pattern in name for pattern in CONTROL_NAME_PATTERNS)


def read_checkpoint(path: str) -> Tuple[Dict[str, Tensor], Dict[str, str], Dict[str, object]]:
    """(tensors, metadata, run config as a dict) of a dartgolf checkpoint, format and config checked."""
    tensors, metadata = read_safetensors(path)
    fmt = metadata.get("format")
    if fmt is not None and fmt != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: __metadata__ format is {fmt!r}, expected {CHECKPOINT_FORMAT!r}")
    if "config" not in metadata:
        raise ValueError(f"{path}: __metadata__ has no 'config' entry (the run config as JSON text)")
    try:
        raw = json.loads(metadata["config"])
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} config: config is not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path} config: config must be a JSON object")
    return tensors, metadata, raw


def config_model_name(raw: Dict[str, object]) -> str:
    """The config's "model" key (any letter case), "gpt" when absent."""
    values = {str(k).lower(): v for k, v in raw.items()}
    return values.get("model", "gpt")


def load_checkpoint(
    path: str, dtype: torch.dtype = torch.float32, rope_dtype: torch.dtype = torch.float32
) -> Tuple[GPTReference, GPTConfig, Dict[str, str]]:
    """Builds the gpt model from the checkpoint's `__metadata__` config and loads its tensors
    strictly (oracle.load_model dispatches on the config's "model" key to DART as well)."""
    tensors, metadata, raw = read_checkpoint(path)
    config = GPTConfig.from_dict(raw, origin=f"{path} config")
    model = GPTReference(config, rope_dtype=rope_dtype).to(dtype)
    model.load_named_tensors(tensors, origin=path)
    return model, config, metadata


def state_tensors(model: GPTReference, dtype: Optional[torch.dtype] = torch.float32) -> Dict[str, Tensor]:
    """The parameters by state_dict name, detached (and cast to `dtype` unless None)."""
    out = {}
    for name, p in model.named_parameters():
        t = p.detach()
        out[name] = t.to(dtype).contiguous() if dtype is not None else t.clone()
    return out
