"""PyTorch side of `npm run bench -- --official`: encoder features (all
patches, no masking) of the official ViT-B/16 and ViT-L/16 at 224 px, with
random weights, timed per batch. One JSON line per (config, batch).

    /usr/bin/python3 bench/torch_infer.py --ref DIR --config vitl16 --batches 1,8 [--threads 1]

DIR holds shared/bench/torch_ref's mae_ref.py (the reference model). Run it
with an optimised BLAS on LD_LIBRARY_PATH (see that folder's README, "BLAS"):
Debian's torch otherwise runs on the reference BLAS, ~50x slower.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

ARCH = {
    "vitb16": dict(embed_dim=768, depth=12, num_heads=12),
    "vitl16": dict(embed_dim=1024, depth=24, num_heads=16),
}


def blas_libs():
    with open("/proc/self/maps") as fh:
        paths = {line.split()[-1] for line in fh if len(line.split()) >= 6}
    return sorted({os.path.realpath(p) for p in paths if "blas" in os.path.basename(p)})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", required=True)
    ap.add_argument("--config", required=True, choices=sorted(ARCH))
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3)
    a = ap.parse_args()
    sys.path.insert(0, a.ref)
    import torch
    import mae_ref as M
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = dict(img_size=224, patch_size=16, in_chans=3, decoder_embed_dim=512, decoder_depth=8,
               decoder_num_heads=16, mlp_ratio=4.0, **ARCH[a.config])
    t0 = time.perf_counter()
    model = M.MaskedAutoencoderViT(**cfg).eval()
    build_sec = time.perf_counter() - t0
    for batch in [int(b) for b in a.batches.split(",")]:
        imgs = torch.rand(batch, 3, 224, 224)
        with torch.inference_mode():
            for _ in range(a.warmup):
                model.forward_features(imgs)
            ts = []
            for _ in range(a.steps):
                t0 = time.perf_counter()
                model.forward_features(imgs)
                ts.append(time.perf_counter() - t0)
        sec = statistics.median(ts)
        print(json.dumps({"kind": "torchInfer", "config": a.config, "batch": batch, "threads": a.threads,
                          "sec": sec, "secPerImage": sec / batch, "allSec": ts, "buildSec": build_sec,
                          "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                          "torch": torch.__version__, "blas": blas_libs()}), flush=True)


if __name__ == "__main__":
    main()
