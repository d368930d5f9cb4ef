"""PyTorch's own thread scaling on the benchmark's small64 training step (issue 15).

One process; 1 and 2 threads (torch.set_num_threads) alternate in 5 blocks
of 2 warm-up + 5 timed steps per variant; prints each block's median, the
median of blocks and the 1-thread / 2-thread ratio. Uses the PyTorch
reference model of shared/bench/torch_ref (mae_ref.py, bench.py's
optimiser grouping). Needs an optimised BLAS like run_bench.sh sets up:

    TORCH_REF=../shared/bench/torch_ref \\
    LD_LIBRARY_PATH=/tmp/torchbench/ob/usr/lib/x86_64-linux-gnu/openblas-openmp \\
    /usr/bin/python3 bench/experiments/torch_threads.py
"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.environ.get("TORCH_REF", "../shared/bench/torch_ref"))
import torch  # noqa: E402
import mae_ref as M  # noqa: E402
from bench import _param_groups  # noqa: E402

torch.manual_seed(0)
cfg = dict(M.CONFIGS["small64"])
for variant in ["mae", "mask_tokens"]:
    model = M.MaskedAutoencoderViT(**cfg, encoder_mask_tokens=(variant == "mask_tokens"), mask_ratio=0.75)
    model.train()
    opt = torch.optim.AdamW(_param_groups(model, 0.05), lr=1.5e-4, betas=(0.9, 0.95))
    imgs = torch.rand(16, cfg["in_chans"], cfg["img_size"], cfg["img_size"])

    def step():
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss, _, _ = model(imgs)  # a fresh random mask every step
        loss.backward()
        opt.step()
        float(loss)
        return time.perf_counter() - t0

    blocks = {1: [], 2: []}
    for _ in range(5):
        for threads in (1, 2):
            torch.set_num_threads(threads)
            step()
            step()
            blocks[threads].append(statistics.median(step() for _ in range(5)))
    for threads in (1, 2):
        print(variant, f"{threads} thread(s)", [round(x, 3) for x in blocks[threads]], "median", round(statistics.median(blocks[threads]), 3))
    print(variant, "1 thread / 2 threads", round(statistics.median(blocks[1]) / statistics.median(blocks[2]), 3), flush=True)
