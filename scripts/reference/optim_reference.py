"""The challenge's optimizer split for the reference GPT: Adam for the embedding (and an untied
head), Muon for 2-D block matrices, Adam for control tensors and vectors; and the DART PR's split
(build_dart_optimizers), which differs in its control-name patterns and momentum warm-up.

Differences from train_gpt.py, on purpose: Newton–Schulz runs in the parameters' dtype (fp32 or
fp64) instead of bf16, and the Muon update is applied without the bf16 rounding of train_gpt.py's
`updates_flat` buffer; no distributed sharding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List

import torch
from torch import Tensor

from blocks_reference import is_matrix_param
from dart_reference import DARTReference, is_dart_control_name
from gpt_reference import is_control_name

NEWTON_SCHULZ_COEFFS = (3.4445, -4.7750, 2.0315)
NEWTON_SCHULZ_EPS = 1e-7


def newton_schulz5(g: Tensor, steps: int) -> Tensor:
    """Approximately orthogonalises a 2-D matrix (pushes its singular values towards ~1) with the
    quintic iteration X <- aX + (bA + cA^2)X, A = XX^T, on the wide orientation of g."""
    if g.dim() != 2:
        raise ValueError(f"Newton-Schulz needs a 2-D matrix, got shape {list(g.shape)}")
    a, b, c = NEWTON_SCHULZ_COEFFS
    x = g / (g.norm() + NEWTON_SCHULZ_EPS)
    tall = g.shape[0] > g.shape[1]
    if tall:
        x = x.t()
    for _ in range(steps):
        gram = x @ x.t()
        x = a * x + (b * gram + c * (gram @ gram)) @ x
    return x.t() if tall else x


def muon_update(grad: Tensor, buffer: Tensor, momentum: float, steps: int, nesterov: bool = True) -> Tensor:
    """Updates the momentum buffer in place and returns the (positive) step direction."""
    buffer.mul_(momentum).add_(grad)
    direction = grad + momentum * buffer if nesterov else buffer
    rows, cols = grad.shape
    return newton_schulz5(direction, steps) * max(1.0, rows / cols) ** 0.5


class Muon(torch.optim.Optimizer):
    def __init__(self, params, lr: float, momentum: float, backend_steps: int, nesterov: bool = True):
        super().__init__(params, dict(lr=lr, momentum=momentum, backend_steps=backend_steps, nesterov=nesterov))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p.grad)
                direction = muon_update(
                    p.grad, state["momentum_buffer"], group["momentum"], group["backend_steps"], group["nesterov"]
                )
                p.add_(direction, alpha=-group["lr"])
        return None


@dataclass
class OptimizerSet:
    optimizers: List[torch.optim.Optimizer]
    muon: Muon
    config: object  # GPTConfig or DARTConfig: the lr, momentum and Adam keys are the same
    # The DART PR divides by max(warmup_steps, 1), so warmup_steps = 0 still starts step 0 at
    # muon_momentum_warmup_start; train_gpt.py treats 0 as "no warm-up".
    warmup_divisor_at_least_one: bool = False

    def muon_momentum(self, step: int) -> float:
        cfg = self.config
        if self.warmup_divisor_at_least_one:
            frac = min(step / max(cfg.muon_momentum_warmup_steps, 1), 1.0)
        else:
            frac = min(step / cfg.muon_momentum_warmup_steps, 1.0) if cfg.muon_momentum_warmup_steps > 0 else 1.0
        return (1.0 - frac) * cfg.muon_momentum_warmup_start + frac * cfg.muon_momentum

    def zero_grad(self) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=True)

    def step(self, step: int, lr_mul: float = 1.0) -> None:
        """One update at 0-based training step `step` (sets Muon momentum and the lr multiplier)."""
        for group in self.muon.param_groups:
            group["momentum"] = self.muon_momentum(step)
        for opt in self.optimizers:
            for group in opt.param_groups:
                group["lr"] = group["base_lr"] * lr_mul
        if self.config.grad_clip_norm > 0:
            params = [p for opt in self.optimizers for g in opt.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip_norm)
        for opt in self.optimizers:
            opt.step()


def build_optimizers(model) -> OptimizerSet:
    if isinstance(model, DARTReference):
        return build_dart_optimizers(model)
    cfg = model.config
    betas = (cfg.beta1, cfg.beta2)

    def adam(params, lr):
        return torch.optim.Adam([{"params": params, "lr": lr, "base_lr": lr}], betas=betas, eps=cfg.adam_eps)

    matrices, controls = [], []
    for name, p in model.blocks.named_parameters():
        (matrices if p.dim() == 2 and not is_control_name(name) else controls).append(p)
    if model.skip_weights.numel() > 0:
        controls.append(model.skip_weights)

    token_lr = cfg.tied_embed_lr if cfg.tie_embeddings else cfg.embed_lr
    muon = Muon(matrices, lr=cfg.matrix_lr, momentum=cfg.muon_momentum, backend_steps=cfg.muon_backend_steps)
    for group in muon.param_groups:
        group["base_lr"] = cfg.matrix_lr
    optimizers: List[torch.optim.Optimizer] = [adam([model.tok_emb.weight], token_lr), muon, adam(controls, cfg.scalar_lr)]
    if model.lm_head is not None:
        optimizers.insert(1, adam([model.lm_head.weight], cfg.head_lr))
    return OptimizerSet(optimizers=optimizers, muon=muon, config=cfg)


def build_dart_optimizers(model: DARTReference) -> OptimizerSet:
    """The PR's main(): block tensors that are 2-D and match no DART control pattern -> Muon
    (c_q, c_k, c_v, proj, fc, mlp proj, DIFF V2's lambda_proj); every other block tensor (the 3-D
    delta_A/delta_B and resid_mix, the lambda vectors, q_gain, the 2-D attn_scale, mlp_scale and
    loop_embed.weight) plus skip_weights and memory -> scalar Adam; tok_emb.weight -> Adam at
    tied_embed_lr (the PR's EMBED_LR, default 0.05). Pluggable block tensors (per unique block and
    model-level) go by their block's table (blocks_reference.is_matrix_param): tau-fusion and
    head-gate weights -> Muon; biases, mix.* and every DAAM tensor -> scalar Adam."""
    cfg = model.config
    betas = (cfg.beta1, cfg.beta2)

    def adam(params, lr):
        return torch.optim.Adam([{"params": params, "lr": lr, "base_lr": lr}], betas=betas, eps=cfg.adam_eps)

    matrices, scalars = [], []
    plugged = {id(p): is_matrix_param(kind, suffix) for kind, suffix, _, p in model.plugged_named_parameters()}
    for relative_name, _, p in model.block_named_parameters():
        if id(p) not in plugged:
            (matrices if p.dim() == 2 and not is_dart_control_name(relative_name) else scalars).append(p)
    scalars += [model.skip_weights, model.memory]
    for _, _, _, p in model.plugged_named_parameters():
        (matrices if plugged[id(p)] else scalars).append(p)
    muon = Muon(matrices, lr=cfg.matrix_lr, momentum=cfg.muon_momentum, backend_steps=cfg.muon_backend_steps)
    for group in muon.param_groups:
        group["base_lr"] = cfg.matrix_lr
    optimizers: List[torch.optim.Optimizer] = [adam([model.tok_emb.weight], cfg.tied_embed_lr), muon, adam(scalars, cfg.scalar_lr)]
    return OptimizerSet(optimizers=optimizers, muon=muon, config=cfg, warmup_divisor_at_least_one=True)
