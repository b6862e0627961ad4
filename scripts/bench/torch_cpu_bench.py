#!/usr/bin/python3
"""The PyTorch peer for `dartgolf bench`: the same model (scripts/reference/gpt_reference.py, the
oracle's implementation of train_gpt.py's GPT) and the same optimizer split, trained on random
tokens on the CPU in fp32, timed the same way. Prints one JSON object like `dartgolf bench --json`.

  /usr/bin/python3 scripts/bench/torch_cpu_bench.py --config CONFIG.json --threads 2 --steps 10 --warmup 2

CONFIG.json is the resolved settings (`dartgolf train --preset tiny --print-config --json`)."""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))

import torch  # noqa: E402

from gpt_reference import GPTConfig, GPTReference  # noqa: E402
from optim_reference import build_optimizers  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="resolved dartgolf settings as JSON")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()

    with open(args.config, encoding="utf-8") as f:
        settings = json.load(f)
    torch.set_num_threads(args.threads)
    torch.manual_seed(int(settings.get("seed", 1337)))
    config = GPTConfig.from_dict(settings, args.config)
    model = GPTReference(config)
    optimizers = build_optimizers(model)
    seq_len = int(settings["train_seq_len"])
    accum = int(settings.get("grad_accum_steps", 0)) or 8
    batch_tokens = int(settings["train_batch_tokens"])
    rows = batch_tokens // accum // seq_len
    x = torch.randint(0, config.vocab_size, (rows, seq_len))
    y = torch.randint(0, config.vocab_size, (rows, seq_len))

    def one_step(step: int) -> None:
        optimizers.zero_grad()
        for _ in range(accum):
            loss = model(x, y)[0]
            (loss / accum).backward()
        optimizers.step(step)

    for i in range(args.warmup):
        one_step(i)
    t0 = time.perf_counter()
    for i in range(args.steps):
        one_step(args.warmup + i)
    seconds = time.perf_counter() - t0
    print(json.dumps({
        "impl": "pytorch", "backend": f"torch {torch.__version__} cpu", "threads": args.threads,
        "steps": args.steps, "tokens_per_step": batch_tokens, "seconds": seconds,
        "tokens_per_second": args.steps * batch_tokens / seconds, "ms_per_step": 1000 * seconds / args.steps,
        "parameters": sum(p.numel() for p in model.parameters()),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
