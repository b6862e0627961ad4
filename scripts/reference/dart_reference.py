"""An independent PyTorch implementation of DART (the seed submission's `RLM`, preset `pr345`) and
of dartgolf's extensions to it (B unique blocks, DIFF V2 attention, switchable QAT and eval loss).

It checks dartgolf's C++ DART the way gpt_reference.py checks the baseline: plain fp32 (or fp64)
on CPU, attention written out by hand with a causal mask, every op torch 1.13 lacks written out.
With num_unique_blocks = 1 the parameter names, shapes and arithmetic are those of the PR's
`RLM` (openai/parameter-golf pull 345, records/.../2026-03-20_DART_DiffAttn_Recurrent/train_gpt.py).

Forward pass (d model dim, H heads, K KV heads, hd = d/H, M memory rows, T tokens, S = M + T,
B unique blocks, L loops; pass p = l*B + b runs block b with that block's loop-l tensors):
  x0 = [memory ; rmsnorm(tok_emb[ids])]  (memory broadcast over the batch);  x = x0
  loop l = 0..L-1:
    for b in 0..B-1 (block b, loop index l):
      x = resid_mix[0,l]*x + resid_mix[1,l]*x0
      x = x + loop_embed[l]
      x = x + attn_scale[l] * attention_l(rmsnorm(x))
      x = x + mlp_scale[l] * proj(relu(fc(rmsnorm(x)))^2)
    U-Net across loops: l < L//2 pushes x; l >= L//2 adds skip_weights[j]*pushed[L//2-1-j], j = l - L//2
    loss_l = mean CE of softcap(rmsnorm(x[M:]) @ tok_emb^T) over the B*T token rows
  training loss = sum_l g^(L-1-l) loss_l / sum_l g^(L-1-l), g = deep_sup_gamma
attention_l ("diff", the PR's):  W = c_q + delta_A[l] @ delta_B[l]  (2d x d), fake-quantised per row
  when qat_wq; q = x W^T -> q1 (first d columns, H heads), q2 (next d); k = x c_k^T -> k1 (first
  K*hd), k2; v = x c_v^T; RMSNorm on every q/k head; rotary on the token rows only (positions
  0..T-1, memory rows untouched); q1, q2 *= q_gain[h]; GQA (query head h reads KV head h // (H/K));
  lambda_h = e^{lq1_h} e^{lk1_h} - e^{lq2_h} e^{lk2_h} + (0.8 - 0.6 e^{-0.3});
  out_h = A(q1_h, k1, v) - lambda_h A(q2_h, k2, v); proj.
attention_l ("diff_v2", Microsoft's DIFF V2): W as above, q = x W^T -> 2H query heads (head j =
  columns j*hd..), k = x c_k^T (K heads), v (K heads); RMSNorm, rotary and q_gain[j] (2H entries)
  as above; GQA with 2H/K query heads per KV head (so heads 2i, 2i+1 share one); per token and head
  lambda = sigmoid(x lambda_proj^T) (H entries); out_i = A(q_2i) - lambda_i A(q_2i+1); proj.
A(q, k, v) = causal softmax(q k^T / sqrt(hd)) v over all S rows (memory rows first).

Pluggable blocks (config `blocks`, docs/blocks.md "DART use sites"; modules in blocks_reference.py,
the setting parsed by block_spec_reference.py). Each works on [rows, d] views (rows = B*S), one
token at a time. With every site in use, pass (l, b) is
  x = tau_in(x, x0[, skip_l]) + loop_embed[l]      loop_input, replaces resid_mix (which then
                                                   does not exist); skip_l: see skip_stream_input
  n1 = rmsnorm(x); comb = attention's head outputs [B, S, H*hd] (head h in columns h*hd..)
  comb = attn_output blocks in config order (head_gate reads n1; daam gates comb)
  x = x + attn_scale[l] * comb proj^T
  n2 = daam(rmsnorm(x))                            mlp_input
  x = x + mlp_scale[l] * mlp(n2);  x = daam(x)     block_output
and the last run loop's head reads tau_out(loop outputs, each after its skip) (loop_output,
model-level; streams past the run's loop count repeat its last loop's output). Tensor names:
<block prefix><site>.<type>.<tensor> per unique block, loop_output.tau_fusion.<tensor> for the model.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, fields
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from block_spec_reference import BlockSpec, blocks_setting, parse_block_specs
from blocks_reference import build_block, init_block
from gpt_reference import _coerce, apply_rotary, rms_norm, rotary_tables

MODEL_NAME = "dart"
ATTENTION_KINDS = ("diff", "diff_v2")
EVAL_LOSS_KINDS = ("last_loop", "deep_supervision")

# The PR's lambda_init (Differential Transformer's 0.8 - 0.6 exp(-0.3 * depth) at depth 1).
LAMBDA_INIT = 0.8 - 0.6 * math.exp(-0.3)

# The PR's per-row fake quantisation (and the challenge's int8 export): clip every row of |W| at
# its 99.99984th percentile (torch.quantile, linear interpolation), 127 levels each side.
QAT_CLIP_QUANTILE = 99.99984 / 100.0
QAT_LEVELS = 127.0

# The PR's CONTROL_TENSOR_NAME_PATTERNS: a block tensor whose name contains one of these goes to
# the scalar Adam even when it is 2-D (attn_scale, mlp_scale and loop_embed.weight are).
DART_CONTROL_NAME_PATTERNS = (
    "attn_scale",
    "mlp_scale",
    "resid_mix",
    "q_gain",
    "lambda_q1",
    "lambda_k1",
    "lambda_q2",
    "lambda_k2",
    "loop_embed",
    "skip_weight",
    "memory",
)


@dataclass
class DARTConfig:
    """The run-config keys DART reads. Defaults are the PR's submitted configuration (pr345)."""

    vocab_size: int = 1024
    model_dim: int = 512
    num_heads: int = 8
    num_kv_heads: int = 4
    mlp_mult: int = 4
    tie_embeddings: bool = True
    rope_base: float = 10000.0
    logit_softcap: float = 30.0
    qk_gain_init: float = 1.0
    tied_embed_init_std: float = 0.005
    train_seq_len: int = 256
    # DART
    num_unique_blocks: int = 1
    num_loops: int = 4
    num_memory_tokens: int = 16
    delta_rank: int = 16
    deep_sup_gamma: float = 0.9
    attention: str = "diff"
    qat_wq: bool = True
    eval_loss: str = "last_loop"
    # pluggable blocks: the `blocks` setting, a list of {"type", "site", options...} (block_spec_reference)
    blocks: list = dataclasses.field(default_factory=list)
    # optimizer (the PR's EMBED_LR, 0.05, is dartgolf's tied_embed_lr)
    tied_embed_lr: float = 0.05
    matrix_lr: float = 0.04
    scalar_lr: float = 0.04
    muon_momentum: float = 0.95
    muon_backend_steps: int = 5
    muon_momentum_warmup_start: float = 0.85
    muon_momentum_warmup_steps: int = 300
    beta1: float = 0.9
    beta2: float = 0.95
    adam_eps: float = 1e-8
    grad_clip_norm: float = 0.0

    @classmethod
    def from_json_text(cls, text: str, origin: str = "config") -> "DARTConfig":
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{origin}: config is not valid JSON ({exc})") from None
        if not isinstance(raw, dict):
            raise ValueError(f"{origin}: config must be a JSON object")
        return cls.from_dict(raw, origin)

    @classmethod
    def from_dict(cls, raw: Dict[str, object], origin: str = "config") -> "DARTConfig":
        values = {str(k).lower(): v for k, v in raw.items()}
        model = values.get("model", MODEL_NAME)
        if model != MODEL_NAME:
            raise ValueError(f"{origin}: model {model!r} is not DART (DARTConfig reads model 'dart' only)")
        kwargs = {}
        for field in fields(cls):
            if field.name not in values:
                continue
            where = f"{origin}: key {field.name!r}"
            if field.name == "blocks":
                kwargs[field.name] = blocks_setting(values[field.name], where)
            elif field.type in ("str", str):
                if not isinstance(values[field.name], str):
                    raise ValueError(f"{where}: expected a string, got {values[field.name]!r}")
                kwargs[field.name] = values[field.name].strip().lower()
            else:
                kwargs[field.name] = _coerce(values[field.name], field.type, where)
        config = cls(**kwargs)
        config.validate(origin)
        return config

    def validate(self, origin: str = "config") -> None:
        problems = []
        for name in ("vocab_size", "model_dim", "num_heads", "num_kv_heads", "mlp_mult", "num_unique_blocks", "num_loops"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be positive")
        for name in ("num_memory_tokens", "delta_rank"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must not be negative")
        if self.num_heads > 0 and self.model_dim % self.num_heads:
            problems.append("model_dim must be divisible by num_heads")
        elif self.num_heads > 0 and (self.model_dim // self.num_heads) % 2:
            problems.append("head_dim (model_dim/num_heads) must be even for rotary")
        if self.num_kv_heads > 0 and self.num_heads % self.num_kv_heads:
            problems.append("num_heads must be divisible by num_kv_heads")
        if self.logit_softcap <= 0:
            problems.append("logit_softcap must be positive")
        if self.deep_sup_gamma < 0:
            problems.append("deep_sup_gamma must not be negative")
        if not self.tie_embeddings:
            problems.append("DART ties its embeddings (tie_embeddings must be true)")
        if self.attention not in ATTENTION_KINDS:
            problems.append(f"attention must be one of {', '.join(ATTENTION_KINDS)} (got {self.attention!r})")
        if self.eval_loss not in EVAL_LOSS_KINDS:
            problems.append(f"eval_loss must be one of {', '.join(EVAL_LOSS_KINDS)} (got {self.eval_loss!r})")
        if problems:
            raise ValueError(f"{origin}: " + "; ".join(problems))
        self.block_specs(origin)

    def block_specs(self, origin: str = "config") -> List[BlockSpec]:
        """The `blocks` setting parsed, plus the checks that need the model's shape."""
        specs = parse_block_specs(self.blocks, self.num_heads, origin)
        for spec in specs:
            if spec.type == "tau_fusion" and spec.options["latent"] > self.model_dim:
                raise ValueError(f"{origin}: {spec.where}: latent={spec.options['latent']} exceeds "
                                 f"model_dim={self.model_dim}")
            if spec.type == "daam" and self.model_dim % spec.options["groups"]:
                raise ValueError(f"{origin}: {spec.where}: groups={spec.options['groups']} must divide "
                                 f"model_dim={self.model_dim}")
            if spec.site == "loop_output" and self.num_loops < 2:
                raise ValueError(f"{origin}: {spec.where}: loop_output fuses the outputs of several loops "
                                 f"(needs num_loops >= 2, got {self.num_loops})")
        return specs

    @property
    def head_dim(self) -> int:
        return self.model_dim // self.num_heads

    @property
    def num_passes(self) -> int:
        return self.num_unique_blocks * self.num_loops


def fake_quant_per_row(w: Tensor) -> Tensor:
    """The PR's QAT on a 2-D weight: per row, clip at the QAT_CLIP_QUANTILE quantile of |w|,
    scale = max(clip/127, 1/127) (kept in the compute dtype, not fp16), q = round-half-even(
    clamp(w)/scale) clamped to +-127, times scale. Forward value w + (q - w) (evaluated in that
    order, as the PR does), gradient the identity (straight-through)."""
    if w.dim() != 2:
        raise ValueError(f"fake_quant_per_row needs a 2-D weight, got shape {list(w.shape)}")
    if w.numel() == 0:
        return w
    with torch.no_grad():
        plain = w.detach()
        clip = torch.quantile(plain.abs(), QAT_CLIP_QUANTILE, dim=1)
        scale = (clip / QAT_LEVELS).clamp_min(1.0 / QAT_LEVELS)
        clipped = torch.maximum(torch.minimum(plain, clip[:, None]), -clip[:, None])
        quantised = (clipped / scale[:, None]).round().clamp(-QAT_LEVELS, QAT_LEVELS) * scale[:, None]
    return w + (quantised - w).detach()


def causal_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """softmax(q k^T / sqrt(hd)) v with row s seeing rows 0..s; q, k, v: [B, heads, S, hd]."""
    seq = q.shape[-2]
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    future = torch.ones(seq, seq, dtype=torch.bool).triu(diagonal=1)
    return torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1) @ v


class DARTAttention(nn.Module):
    """One block's attention, shared by every loop; per-loop tensors have num_loops rows."""

    def __init__(self, config: DARTConfig):
        super().__init__()
        d, hd, H, K, L, r = (config.model_dim, config.head_dim, config.num_heads, config.num_kv_heads,
                             config.num_loops, config.delta_rank)
        self.kind = config.attention
        self.num_heads, self.num_kv_heads, self.head_dim = H, K, hd
        self.num_memory = config.num_memory_tokens
        self.qat = config.qat_wq
        # Registration order follows the PR's state_dict: own tensors first, then the linears.
        if self.kind == "diff":
            self.lambda_q1 = nn.Parameter(torch.zeros(H))
            self.lambda_k1 = nn.Parameter(torch.zeros(H))
            self.lambda_q2 = nn.Parameter(torch.zeros(H))
            self.lambda_k2 = nn.Parameter(torch.zeros(H))
            self.q_gain = nn.Parameter(torch.full((H,), config.qk_gain_init))
        else:
            self.q_gain = nn.Parameter(torch.full((2 * H,), config.qk_gain_init))
        self.delta_A = nn.Parameter(torch.zeros(L, 2 * d, r))
        self.delta_B = nn.Parameter(torch.zeros(L, r, d))
        self.c_q = nn.Linear(d, 2 * d, bias=False)
        kv_sets = 2 if self.kind == "diff" else 1
        self.c_k = nn.Linear(d, kv_sets * K * hd, bias=False)
        self.c_v = nn.Linear(d, K * hd, bias=False)
        self.proj = nn.Linear(d, d, bias=False)
        if self.kind == "diff_v2":
            self.lambda_proj = nn.Linear(d, H, bias=False)
        # Tests set this to a list to receive each pass's effective (fake-quantised) W_q.
        self.captured_wq: Optional[List[Tensor]] = None

    def effective_wq(self, loop: int) -> Tensor:
        w = self.c_q.weight + self.delta_A[loop] @ self.delta_B[loop]
        if self.qat:
            w = fake_quant_per_row(w)
        if self.captured_wq is not None:
            w.retain_grad()
            self.captured_wq.append(w)
        return w

    def forward(self, x: Tensor, loop: int, cos: Tensor, sin: Tensor,
                gate_heads: Optional[Callable[[Tensor], Tensor]] = None) -> Tensor:
        """The projected attention of x; `gate_heads` (the attn_output blocks) maps the combined
        head outputs [B, S, H*hd] to new ones before the projection."""
        batch, seq, d = x.shape
        M, hd = self.num_memory, self.head_dim

        def heads(t: Tensor, count: int) -> Tensor:  # [B, S, count*hd] -> [B, count, S, hd]
            return t.reshape(batch, seq, count, hd).permute(0, 2, 1, 3)

        def position(t: Tensor) -> Tensor:  # RMSNorm every row; rotary on the token rows only
            t = rms_norm(t)
            return torch.cat((t[:, :, :M], apply_rotary(t[:, :, M:], cos, sin)), dim=2)

        q_all = x @ self.effective_wq(loop).t()
        k_all = x @ self.c_k.weight.t()
        v = heads(x @ self.c_v.weight.t(), self.num_kv_heads)
        H, K = self.num_heads, self.num_kv_heads
        if self.kind == "diff":
            gain = self.q_gain[None, :, None, None]
            q1 = position(heads(q_all[..., :d], H)) * gain
            q2 = position(heads(q_all[..., d:], H)) * gain
            k1 = position(heads(k_all[..., : K * hd], K)).repeat_interleave(H // K, dim=1)
            k2 = position(heads(k_all[..., K * hd :], K)).repeat_interleave(H // K, dim=1)
            v = v.repeat_interleave(H // K, dim=1)
            lam = (
                torch.exp(self.lambda_q1) * torch.exp(self.lambda_k1)
                - torch.exp(self.lambda_q2) * torch.exp(self.lambda_k2)
                + LAMBDA_INIT
            )[None, :, None, None]
            out = causal_attention(q1, k1, v) - lam * causal_attention(q2, k2, v)
        else:
            group = 2 * H // K
            q = position(heads(q_all, 2 * H)) * self.q_gain[None, :, None, None]
            k = position(heads(k_all, K)).repeat_interleave(group, dim=1)
            v = v.repeat_interleave(group, dim=1)
            both = causal_attention(q, k, v)  # [B, 2H, S, hd]
            lam = torch.sigmoid(x @ self.lambda_proj.weight.t()).permute(0, 2, 1)[..., None]  # [B, H, S, 1]
            out = both[:, 0::2] - lam * both[:, 1::2]
        out = out.permute(0, 2, 1, 3).reshape(batch, seq, d)  # head h in columns h*hd..(h+1)*hd
        if gate_heads is not None:
            out = gate_heads(out)
        return out @ self.proj.weight.t()


class DARTMLP(nn.Module):
    def __init__(self, config: DARTConfig):
        super().__init__()
        hidden = config.mlp_mult * config.model_dim
        self.fc = nn.Linear(config.model_dim, hidden, bias=False)
        self.proj = nn.Linear(hidden, config.model_dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(x @ self.fc.weight.t()).square() @ self.proj.weight.t()


def tau_stream_count(config: DARTConfig, spec: BlockSpec) -> int:
    """loop_output fuses every loop; loop_input fuses x, x0 and, with skip_stream, the U-Net skip
    (only when the model has skips at all: num_loops // 2 > 0)."""
    if spec.site == "loop_output":
        return config.num_loops
    return 3 if spec.options["skip_stream"] and config.num_loops // 2 > 0 else 2


def tau_initial_mix(config: DARTConfig, spec: BlockSpec) -> List[float]:
    """Step-0 mixes: loop_input starts as resid_mix's (1, 0) init (skip weight 0), loop_output
    as the plain model (the last loop's output)."""
    n = tau_stream_count(config, spec)
    return [1.0] + [0.0] * (n - 1) if spec.site == "loop_input" else [0.0] * (n - 1) + [1.0]


def build_site_block(config: DARTConfig, spec: BlockSpec) -> nn.Module:
    """The blocks_reference module of one entry, sized for its DART site (every site is d wide)."""
    sizes: Dict[str, object] = {"dim": config.model_dim}
    if spec.type == "tau_fusion":
        sizes["streams"] = tau_stream_count(config, spec)
    elif spec.type == "head_gate":
        sizes.update(heads=config.num_heads, head_dim=config.head_dim)
    return build_block(spec.type, {**spec.options, **sizes})


def by_rows(t: Tensor) -> Tensor:
    """[B, S, d] -> [B*S, d]: the blocks treat every row (token or memory row) on its own."""
    return t.reshape(-1, t.shape[-1])


def apply_daam(daam: nn.Module, x: Tensor) -> Tensor:
    return daam(by_rows(x))[0].reshape(x.shape)


def apply_tau(tau: nn.Module, streams: Sequence[Tensor]) -> Tensor:
    return tau([by_rows(s) for s in streams])[0].reshape(streams[0].shape)


class DARTBlock(nn.Module):
    """A unique block with its per-loop tensors (row l is used at loop l) and its pluggable
    blocks (one instance per site, shared by every loop), registered after loop_embed in config
    order as <site>.<type> (grouped by site: ModuleDicts cannot interleave two sites)."""

    def __init__(self, config: DARTConfig, specs: Sequence[BlockSpec] = ()):
        super().__init__()
        d, L = config.model_dim, config.num_loops
        self.specs = [s for s in specs if not s.model_level]
        self.attn_scale = nn.Parameter(torch.ones(L, d))
        self.mlp_scale = nn.Parameter(torch.ones(L, d))
        if not any(s.site == "loop_input" for s in self.specs):  # a loop_input tau-fusion replaces it
            self.resid_mix = nn.Parameter(torch.stack((torch.ones(L, d), torch.zeros(L, d))))
        self.attn = DARTAttention(config)
        self.mlp = DARTMLP(config)
        self.loop_embed = nn.Embedding(L, d)
        for spec in self.specs:
            if spec.site not in self._modules:
                self.add_module(spec.site, nn.ModuleDict())
            self._modules[spec.site][spec.type] = build_site_block(config, spec)

    def plugged(self, site: str) -> List[Tuple[str, nn.Module]]:
        """(type, module) of the blocks at `site`, in config order."""
        return list(self._modules[site].items()) if site in self._modules else []

    def plugged_block(self, site: str, kind: str) -> Optional[nn.Module]:
        return dict(self.plugged(site)).get(kind)

    def mix_input(self, x: Tensor, x0: Tensor, loop: int, skip: Optional[Tensor]) -> Tensor:
        tau = self.plugged_block("loop_input", "tau_fusion")
        if tau is None:
            return self.resid_mix[0, loop] * x + self.resid_mix[1, loop] * x0
        streams = [x, x0]
        if tau.streams == 3:
            streams.append(skip if skip is not None else torch.zeros_like(x))
        return apply_tau(tau, streams)

    def gate_heads(self, comb: Tensor, n1: Tensor) -> Tensor:
        for kind, block in self.plugged("attn_output"):
            if kind == "head_gate":
                comb = block(by_rows(n1), by_rows(comb))[0].reshape(comb.shape)
            else:
                comb = apply_daam(block, comb)
        return comb

    def forward(self, x: Tensor, x0: Tensor, loop: int, cos: Tensor, sin: Tensor,
                skip: Optional[Tensor] = None) -> Tensor:
        """One pass; `skip` is the loop_input skip stream (None: zeros)."""
        x = self.mix_input(x, x0, loop, skip)
        x = x + self.loop_embed.weight[loop]
        n1 = rms_norm(x)
        gate = (lambda comb: self.gate_heads(comb, n1)) if self.plugged("attn_output") else None
        x = x + self.attn_scale[loop] * self.attn(n1, loop, cos, sin, gate)
        n2 = rms_norm(x)
        for _, daam in self.plugged("mlp_input"):
            n2 = apply_daam(daam, n2)
        x = x + self.mlp_scale[loop] * self.mlp(n2)
        for _, daam in self.plugged("block_output"):
            x = apply_daam(daam, x)
        return x


@dataclass
class DARTOutputs:
    loss: Tensor  # training loss: deep-supervision weighted mean of the per-loop losses
    loop_losses: List[Tensor]  # per-token losses [B*T] after each loop
    loop_weights: List[float]  # gamma^(N-1-l), unnormalised
    logits: Tensor  # the last loop's softcapped logits [B*T, V]
    eval_loss: Tensor  # the scored loss: the last loop's mean, or `loss` (eval_loss=deep_supervision)

    @property
    def per_token(self) -> Tensor:
        return self.loop_losses[-1]


class DARTReference(nn.Module):
    is_dart = True

    def __init__(self, config: DARTConfig, rope_dtype: torch.dtype = torch.float32):
        super().__init__()
        config.validate()
        self.config = config
        self.rope_dtype = rope_dtype
        d, L = config.model_dim, config.num_loops
        self.specs = config.block_specs()
        self.memory = nn.Parameter(torch.zeros(1, config.num_memory_tokens, d))
        self.skip_weights = nn.Parameter(torch.ones(L // 2, d))  # min(L//2, L - L//2) = L//2
        self.tok_emb = nn.Embedding(config.vocab_size, d)
        if config.num_unique_blocks == 1:
            self.block = DARTBlock(config, self.specs)  # the PR's names: block.*
            self.block_list = [self.block]
        else:
            self.blocks = nn.ModuleList([DARTBlock(config, self.specs) for _ in range(config.num_unique_blocks)])
            self.block_list = list(self.blocks)
        for spec in self.specs:  # model-level sites (loop_output) close the layout
            if spec.model_level:
                self.add_module(spec.site, nn.ModuleDict({spec.type: build_site_block(config, spec)}))

    def block_prefixes(self) -> List[str]:
        if self.config.num_unique_blocks == 1:
            return ["block."]
        return [f"blocks.{b}." for b in range(len(self.block_list))]

    def block_named_parameters(self):
        """(name relative to its block, full name, tensor) for every block tensor."""
        for pre, block in zip(self.block_prefixes(), self.block_list):
            for name, p in block.named_parameters():
                yield name, pre + name, p

    def plugged_modules(self) -> Iterator[Tuple[str, BlockSpec, nn.Module]]:
        """(tensor name prefix, spec, module) of every pluggable block: each unique block's, in
        config order, then the model-level ones."""
        for pre, block in zip(self.block_prefixes(), self.block_list):
            for spec in block.specs:
                yield f"{pre}{spec.site}.{spec.type}.", spec, block.plugged_block(spec.site, spec.type)
        for spec in self.specs:
            if spec.model_level:
                yield f"{spec.site}.{spec.type}.", spec, self._modules[spec.site][spec.type]

    def plugged_named_parameters(self) -> Iterator[Tuple[str, str, str, Tensor]]:
        """(block type, tensor suffix, full name, tensor) of every pluggable block tensor."""
        for pre, spec, module in self.plugged_modules():
            for suffix, p in module.named_parameters():
                yield spec.type, suffix, pre + suffix, p

    # ----- initialisation (the PR's, used by make_fixture) -----
    @torch.no_grad()
    def pr345_init(self, generator: torch.Generator) -> None:
        """The PR's init: tok_emb N(0, tied_embed_init_std); memory N(0, 0.02); lambda vectors
        N(0, 0.1); q_gain qk_gain_init; delta_A N(0, 0.01), delta_B 0; c_q/c_k/c_v/fc (and DIFF V2's
        lambda_proj) nn.Linear's U(+-1/sqrt(fan_in)); attn/mlp output projections 0; loop_embed
        N(0, 0.02); scales 1; resid_mix (1, 0); skip_weights 1. Pluggable blocks: the C++ rules
        (blocks_reference.init_block), tau-fusion mixes from tau_initial_mix."""
        cfg = self.config
        self.tok_emb.weight.normal_(0.0, cfg.tied_embed_init_std, generator=generator)
        self.memory.normal_(0.0, 0.02, generator=generator)
        for block in self.block_list:
            attn = block.attn
            if attn.kind == "diff":
                for lam in (attn.lambda_q1, attn.lambda_k1, attn.lambda_q2, attn.lambda_k2):
                    lam.normal_(0.0, 0.1, generator=generator)
            attn.q_gain.fill_(cfg.qk_gain_init)
            attn.delta_A.normal_(0.0, 0.01, generator=generator)
            attn.delta_B.zero_()
            linears = [attn.c_q, attn.c_k, attn.c_v, block.mlp.fc]
            if attn.kind == "diff_v2":
                linears.append(attn.lambda_proj)
            for linear in linears:
                bound = 1.0 / math.sqrt(linear.weight.shape[1])
                linear.weight.uniform_(-bound, bound, generator=generator)
            attn.proj.weight.zero_()
            block.mlp.proj.weight.zero_()
            block.loop_embed.weight.normal_(0.0, 0.02, generator=generator)
            block.attn_scale.fill_(1.0)
            block.mlp_scale.fill_(1.0)
            if hasattr(block, "resid_mix"):
                block.resid_mix[0].fill_(1.0)
                block.resid_mix[1].fill_(0.0)
        self.skip_weights.fill_(1.0)
        for _, spec, module in self.plugged_modules():
            mix = tau_initial_mix(cfg, spec) if spec.type == "tau_fusion" else ()
            init_block(spec.type, module, spec.options, generator, mix)

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
            lines = [f"{origin}: tensors do not match the dart model built from its config"]
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
    def run(self, input_ids: Tensor, target_ids: Tensor, loops: Optional[int] = None) -> DARTOutputs:
        """Runs `loops` loops (default num_loops; fewer is what loop dropout trains): the model
        then behaves as one built with num_loops = loops holding the first `loops` rows of every
        per-loop tensor (U-Net over loops//2 skips, deep-supervision weights over `loops`)."""
        cfg = self.config
        if input_ids.dim() != 2 or input_ids.shape != target_ids.shape:
            raise ValueError(f"input_ids {list(input_ids.shape)} and target_ids {list(target_ids.shape)} must both be [B, T]")
        for label, ids in (("input_ids", input_ids), ("target_ids", target_ids)):
            if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= cfg.vocab_size):
                raise ValueError(f"{label} hold ids outside [0, {cfg.vocab_size})")
        n_loops = cfg.num_loops if loops is None else int(loops)
        if not 1 <= n_loops <= cfg.num_loops:
            raise ValueError(f"loops must be in [1, num_loops={cfg.num_loops}], got {n_loops}")
        input_ids = input_ids.long()
        targets = target_ids.long().reshape(-1)
        dtype = self.tok_emb.weight.dtype
        batch, seq = input_ids.shape
        cos, sin = rotary_tables(seq, cfg.head_dim, cfg.rope_base, self.rope_dtype)
        cos, sin = cos.to(dtype), sin.to(dtype)

        tokens = rms_norm(self.tok_emb.weight[input_ids])
        x = torch.cat((self.memory.expand(batch, -1, -1), tokens), dim=1)
        x0 = x
        n_enc = n_loops // 2
        n_skip = min(n_enc, n_loops - n_enc)
        skips: List[Tensor] = []
        loop_outputs: List[Tensor] = []
        total = torch.zeros((), dtype=dtype)
        weight_sum = 0.0
        loop_losses, loop_weights = [], []
        logits = None
        M, cap = cfg.num_memory_tokens, cfg.logit_softcap
        for loop in range(n_loops):
            skip_in = self.skip_stream_input(loop, skips, n_enc, n_skip)
            for block in self.block_list:
                x = block(x, x0, loop, cos, sin, skip_in)
            if loop < n_enc:
                skips.append(x)
            elif loop - n_enc < n_skip:
                j = loop - n_enc
                x = x + self.skip_weights[j] * skips[n_enc - 1 - j]
            loop_outputs.append(x)
            head_in = self.fuse_loop_outputs(loop_outputs) if loop == n_loops - 1 else x
            h = rms_norm(head_in[:, M:]).reshape(-1, cfg.model_dim)
            logits = cap * torch.tanh((h @ self.tok_emb.weight.t()) / cap)
            per_token = torch.logsumexp(logits, dim=-1) - logits.gather(1, targets[:, None]).squeeze(1)
            weight = cfg.deep_sup_gamma ** (n_loops - 1 - loop)
            total = total + weight * per_token.mean()
            weight_sum += weight
            loop_losses.append(per_token)
            loop_weights.append(weight)
        loss = total / weight_sum
        eval_loss = loss if cfg.eval_loss == "deep_supervision" else loop_losses[-1].mean()
        return DARTOutputs(loss=loss, loop_losses=loop_losses, loop_weights=loop_weights, logits=logits, eval_loss=eval_loss)

    @staticmethod
    def skip_stream_input(loop: int, skips: List[Tensor], n_enc: int, n_skip: int) -> Optional[Tensor]:
        """loop_input's skip stream at `loop`: on a decoder loop that adds a skip at its end, the
        encoder output that skip adds (offered at the loop's input as well); None (zeros) else."""
        j = loop - n_enc
        return skips[n_enc - 1 - j] if 0 <= j < n_skip else None

    def fuse_loop_outputs(self, outputs: List[Tensor]) -> Tensor:
        """What the last run loop's head reads: the loop_output tau-fusion of every loop's output
        (streams past the run's loop count repeat its last output), or that last output."""
        if "loop_output" not in self._modules:
            return outputs[-1]
        tau = self._modules["loop_output"]["tau_fusion"]
        return apply_tau(tau, outputs + [outputs[-1]] * (tau.streams - len(outputs)))

    def forward(self, input_ids: Tensor, target_ids: Tensor, loops: Optional[int] = None) -> Tuple[Tensor, Tensor, Tensor]:
        """(training loss, last loop's per-token losses [B*T], last loop's logits [B*T, V])."""
        out = self.run(input_ids, target_ids, loops)
        return out.loss, out.per_token, out.logits


def is_dart_control_name(name: str) -> bool:
    return any(pattern in name for pattern in DART_CONTROL_NAME_PATTERNS)


def build_dart(config_raw: Dict[str, object], tensors: Dict[str, Tensor], origin: str, dtype: torch.dtype,
               rope_dtype: torch.dtype) -> Tuple[DARTReference, DARTConfig]:
    config = DARTConfig.from_dict(config_raw, origin=f"{origin} config")
    model = DARTReference(config, rope_dtype=rope_dtype).to(dtype)
    model.load_named_tensors(tensors, origin=origin)
    return model, config
