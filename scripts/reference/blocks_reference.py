"""Independent PyTorch versions of dartgolf's pluggable blocks (src/model/blocks/, docs/blocks.md),
differentiated by autograd, so the C++ modules' hand-written backward can be checked against them.

Tensor names are the suffixes the C++ blocks give their parameters (a model prepends its prefix):
  tau_fusion  n streams f_i [R, d]; latent k (0: k = d); controller hidden h
      proj_in.{i}.weight [k, d]   (latent only)  f~_i = f_i proj_in_i^T, else f~_i = f_i
      ctrl.{i}.fc.weight [h, (n+1)k], ctrl.{i}.fc.bias [h], ctrl.{i}.proj.weight [k, h],
      ctrl.{i}.proj.bias [k], mix.{i} [k]
      proj_out.weight [d, k]      (latent only)
    D = sum_{i<j} |f~_i - f~_j|;  tau_i = sigmoid(proj_i(gelu_erf(fc_i([f~_1..f~_n, D]))))
    fused = sum_i (tau_i * mix_i) * f~_i;  out = fused, or fused proj_out^T with a latent
  daam        x [R, d] in g groups of m = d/g features, N Gaussians per group
      offset [g, N], scale [g, N], mix_logits [g, N] (N > 1 only)
    per row and group: mu = mean, var = mean((x - mu)^2) (biased);  pi = softmax(mix_logits[g])
    gate = sum_j pi_j exp(-(x - (mu + offset_j))^2 / (2 scale_j (var + eps)));
    out = x * gate, or x + x * gate (residual);  density [R, g] = mean of gate over the group
  head_gate   x [R, d], attn [R, H, hd]; weight [H, d]; gain (2 with identity init, else 1)
    gate = sigmoid(x weight^T) [R, H];  out = attn * gain * gate[..., None]

The formulas are written here from the definitions above, deliberately not mirroring the C++
kernels (which, e.g., scale by a saved 1/sqrt(var + eps) instead of dividing by var + eps).
"""

from __future__ import annotations

import json
import math
from typing import Dict, List, Mapping, Sequence, Tuple

import torch
from torch import Tensor, nn

BLOCK_KINDS = ("tau_fusion", "daam", "head_gate")


def gelu_erf(x: Tensor) -> Tensor:
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


class _Controller(nn.Module):
    def __init__(self, width_in: int, hidden: int, width_out: int):
        super().__init__()
        self.fc = nn.Linear(width_in, hidden)
        self.proj = nn.Linear(hidden, width_out)

    def forward(self, features: Tensor) -> Tensor:
        return torch.sigmoid(self.proj(gelu_erf(self.fc(features))))


class TauFusionReference(nn.Module):
    def __init__(self, streams: int, dim: int, latent: int, hidden: int):
        super().__init__()
        if streams < 2 or dim < 1 or latent < 0 or hidden < 1:
            raise ValueError(f"tau_fusion: bad sizes streams={streams} dim={dim} latent={latent} hidden={hidden}")
        self.streams, self.dim, self.latent = streams, dim, latent
        k = latent if latent > 0 else dim
        if latent > 0:
            self.proj_in = nn.ModuleList([nn.Linear(dim, k, bias=False) for _ in range(streams)])
        self.ctrl = nn.ModuleList([_Controller((streams + 1) * k, hidden, k) for _ in range(streams)])
        self.mix = nn.ParameterList([nn.Parameter(torch.ones(k)) for _ in range(streams)])
        if latent > 0:
            self.proj_out = nn.Linear(k, dim, bias=False)

    def forward(self, streams: List[Tensor]) -> Tuple[Tensor, Tensor]:
        """(out [R, d], tau [n, R, k])."""
        if len(streams) != self.streams:
            raise ValueError(f"tau_fusion: {len(streams)} streams given, {self.streams} expected")
        latent = [p(f) for p, f in zip(self.proj_in, streams)] if self.latent > 0 else list(streams)
        disagreement = torch.zeros_like(latent[0])
        for i in range(self.streams):
            for j in range(i + 1, self.streams):
                disagreement = disagreement + (latent[i] - latent[j]).abs()
        features = torch.cat(latent + [disagreement], dim=-1)
        taus = [c(features) for c in self.ctrl]
        fused = sum(t * m * f for t, m, f in zip(taus, self.mix, latent))
        out = self.proj_out(fused) if self.latent > 0 else fused
        return out, torch.stack(taus)


class DaamReference(nn.Module):
    def __init__(self, dim: int, groups: int, gaussians: int, residual: bool, eps: float):
        super().__init__()
        if dim < 1 or groups < 1 or dim % groups or gaussians < 1 or not eps > 0:
            raise ValueError(f"daam: bad settings dim={dim} groups={groups} gaussians={gaussians} eps={eps}")
        self.dim, self.groups, self.gaussians, self.residual, self.eps = dim, groups, gaussians, residual, eps
        self.offset = nn.Parameter(torch.zeros(groups, gaussians))
        self.scale = nn.Parameter(torch.full((groups, gaussians), 2.0))
        if gaussians > 1:
            self.mix_logits = nn.Parameter(torch.zeros(groups, gaussians))

    def gate(self, x: Tensor) -> Tensor:
        rows = x.shape[0]
        xg = x.reshape(rows, self.groups, 1, self.dim // self.groups)  # [R, g, 1, m]
        mu = xg.mean(dim=-1, keepdim=True)
        var = ((xg - mu) ** 2).mean(dim=-1, keepdim=True)
        centre = mu + self.offset[None, :, :, None]  # [R, g, N, 1]
        dens = torch.exp(-((xg - centre) ** 2) / (2.0 * self.scale[None, :, :, None] * (var + self.eps)))
        if self.gaussians > 1:
            pi = torch.softmax(self.mix_logits, dim=-1)[None, :, :, None]
            dens = dens * pi
        return dens.sum(dim=2).reshape(rows, self.dim)  # sum over the N Gaussians

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """(out [R, d], density [R, g])."""
        gate = self.gate(x)
        out = x + x * gate if self.residual else x * gate
        density = gate.reshape(x.shape[0], self.groups, -1).mean(dim=-1)
        return out, density


class HeadGateReference(nn.Module):
    def __init__(self, dim: int, heads: int, head_dim: int, gain: float):
        super().__init__()
        if dim < 1 or heads < 1 or head_dim < 1:
            raise ValueError(f"head_gate: bad sizes dim={dim} heads={heads} head_dim={head_dim}")
        self.heads, self.head_dim, self.gain = heads, head_dim, gain
        self.weight = nn.Parameter(torch.zeros(heads, dim))

    def forward(self, x: Tensor, attn: Tensor) -> Tuple[Tensor, Tensor]:
        """(out [R, H, hd], gate [R, H])."""
        gate = torch.sigmoid(x @ self.weight.t())
        out = attn.reshape(x.shape[0], self.heads, self.head_dim) * (self.gain * gate)[..., None]
        return out, gate


def _int(config: Mapping, key: str, default=None) -> int:
    value = config.get(key, default)
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise ValueError(f"block config: {key} must be an integer, got {value!r}")
    return int(value)


def build_block(kind: str, config: Mapping) -> nn.Module:
    """The reference module for `kind` with the C++ block's settings (docs/blocks.md)."""
    if kind == "tau_fusion":
        return TauFusionReference(_int(config, "streams"), _int(config, "dim"), _int(config, "latent", 0),
                                  _int(config, "hidden"))
    if kind == "daam":
        return DaamReference(_int(config, "dim"), _int(config, "groups", 1), _int(config, "gaussians", 1),
                             bool(config.get("residual", False)), float(config.get("eps", 1e-5)))
    if kind == "head_gate":
        gain = 2.0 if bool(config.get("identity_init", True)) else 1.0
        return HeadGateReference(_int(config, "dim"), _int(config, "heads"), _int(config, "head_dim"), gain)
    raise ValueError(f"unknown block {kind!r}; known: {', '.join(BLOCK_KINDS)}")


def input_names(kind: str, block: nn.Module) -> List[str]:
    if kind == "tau_fusion":
        return [f"stream.{i}" for i in range(block.streams)]
    if kind == "daam":
        return ["x"]
    return ["x", "attn"]


def load_params(block: nn.Module, tensors: Mapping[str, Tensor], origin: str) -> None:
    """Copies every parameter from tensors[name]; missing or misshapen names are one clear error."""
    params = dict(block.named_parameters())
    missing = sorted(n for n in params if n not in tensors)
    misshapen = sorted(n for n in params if n in tensors and tuple(tensors[n].shape) != tuple(params[n].shape))
    if missing or misshapen:
        parts = []
        if missing:
            parts.append("missing: " + ", ".join(missing))
        if misshapen:
            parts.append("misshapen: " + ", ".join(f"{n} {list(tensors[n].shape)} != {list(params[n].shape)}"
                                                   for n in misshapen))
        raise ValueError(f"{origin}: parameters do not match the block ({'; '.join(parts)})")
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(tensors[name].to(p.dtype))


def run_block(kind: str, config: Mapping, tensors: Mapping[str, Tensor], dtype: torch.dtype = torch.float64,
              origin: str = "block inputs") -> Dict[str, Tensor]:
    """Forward and backward of L = sum(dout * out): out, the interpretability output (tau, density
    or gate) and grad.<name> for every input and parameter, all float32."""
    block = build_block(kind, config).to(dtype)
    load_params(block, tensors, origin)
    names = input_names(kind, block)
    absent = [n for n in names + ["dout"] if n not in tensors]
    if absent:
        raise ValueError(f"{origin}: lacks {', '.join(absent)} (the {kind} block reads {', '.join(names)} and dout)")
    inputs = {n: tensors[n].to(dtype).clone().requires_grad_(True) for n in names}
    if kind == "tau_fusion":
        out, extra = block([inputs[n] for n in names])
        extra_name = "tau"
    elif kind == "daam":
        out, extra = block(inputs["x"])
        extra_name = "density"
    else:
        out, extra = block(inputs["x"], inputs["attn"])
        extra_name = "gate"
    dout = tensors["dout"].to(dtype)
    if dout.numel() != out.numel():
        raise ValueError(f"{origin}: dout has {dout.numel()} values, the block's output {out.numel()}")
    (out * dout.reshape(out.shape)).sum().backward()
    result: Dict[str, Tensor] = {"out": out.detach().float().contiguous(), extra_name: extra.detach().float().contiguous()}
    for n in names:
        result[f"grad.{n}"] = inputs[n].grad.detach().float().contiguous()
    for n, p in block.named_parameters():
        grad = p.grad if p.grad is not None else torch.zeros_like(p)
        result[f"grad.{n}"] = grad.detach().float().contiguous()
    return result


def read_block_file(path: str) -> Tuple[str, Dict, Dict[str, Tensor]]:
    """(kind, config, tensors) of a block input file: metadata "block" and "config" (JSON)."""
    from safetensors_io import read_safetensors

    tensors, metadata = read_safetensors(path)
    kind = metadata.get("block")
    if kind is None:
        raise ValueError(f"{path}: metadata lacks \"block\" (one of {', '.join(BLOCK_KINDS)})")
    try:
        config = json.loads(metadata.get("config", "{}"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: metadata \"config\" is not JSON ({exc})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: metadata \"config\" must be a JSON object")
    return kind, config, tensors


def is_matrix_param(kind: str, name: str) -> bool:
    """Whether a block tensor (by its suffix name) goes to Muon, per docs/blocks.md's tables: the
    tau-fusion projection and controller matrices; biases, mix.*, the head gate's weight and every
    DAAM tensor (2-D as they are) go to the scalar Adam."""
    if kind == "tau_fusion":
        return name.endswith(".weight")
    if kind == "head_gate":
        return False
    if kind == "daam":
        return False
    raise ValueError(f"unknown block {kind!r}; known: {', '.join(BLOCK_KINDS)}")


def _uniform_fan_in(weight: Tensor, generator: torch.Generator) -> None:
    """nn.Linear's default: U(+-1/sqrt(fan_in)), fan_in = the weight's column count."""
    bound = 1.0 / math.sqrt(weight.shape[1])
    weight.uniform_(-bound, bound, generator=generator)


@torch.no_grad()
def init_block(kind: str, block: nn.Module, options: Mapping, generator: torch.Generator,
               init_mix: Sequence[float] = ()) -> None:
    """The C++ init rules (docs/blocks.md's tables). tau_fusion: W2 = 0 and b2 = init_logit, so
    every tau starts at sigmoid(b), and mix_i = m_i / sigmoid(b) (init_mix m, default 1/n each),
    so step 0 computes sum_i m_i f_i; daam: offset 0 (N = 1) or N(0, init_offset_std^2), scale
    init_scale, mix_logits 0; head_gate: weight 0 with identity_init (gain 2), else U(fan-in)."""
    if kind == "tau_fusion":
        _init_tau_fusion(block, float(options.get("init_logit", 0.0)), init_mix, generator)
    elif kind == "daam":
        if block.gaussians == 1:
            block.offset.zero_()
        else:
            block.offset.normal_(0.0, float(options.get("init_offset_std", 0.5)), generator=generator)
        block.scale.fill_(float(options.get("init_scale", 2.0)))
        if block.gaussians > 1:
            block.mix_logits.zero_()
    elif kind == "head_gate":
        if bool(options.get("identity_init", True)):
            block.weight.zero_()
        else:
            _uniform_fan_in(block.weight, generator)
    else:
        raise ValueError(f"unknown block {kind!r}; known: {', '.join(BLOCK_KINDS)}")


def _init_tau_fusion(block: "TauFusionReference", init_logit: float, init_mix: Sequence[float],
                     generator: torch.Generator) -> None:
    n = block.streams
    mix = list(init_mix) if len(init_mix) else [1.0 / n] * n
    if len(mix) != n:
        raise ValueError(f"tau_fusion: init_mix has {len(mix)} entries for {n} streams")
    if block.latent > 0:
        for proj in block.proj_in:
            _uniform_fan_in(proj.weight, generator)
        _uniform_fan_in(block.proj_out.weight, generator)
    tau0 = torch.sigmoid(torch.tensor(init_logit, dtype=torch.float64))
    for ctrl, scale, m in zip(block.ctrl, block.mix, mix):
        _uniform_fan_in(ctrl.fc.weight, generator)
        ctrl.fc.bias.zero_()
        ctrl.proj.weight.zero_()
        ctrl.proj.bias.fill_(init_logit)
        scale.fill_(float(m / tau0))
