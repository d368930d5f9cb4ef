/**
 * Analytic matmul FLOPs, counted exactly as the PyTorch reference does
 * (`mae_ref.matmul_flops`): 2·m·n·k for the patch embed (on all L patches),
 * and in every block qkv, q·kᵀ, probs·v, proj, fc1, fc2, plus decoder_embed
 * and decoder_pred (on 1 + L rows). LayerNorm, softmax, GELU and the
 * optimiser are not counted. A training step is 3× the forward.
 */
import type { BenchConfig } from './configs';

/** Options of {@link matmulFlops}. */
export interface FlopOptions {
  /** Fraction of patches removed. Defaults to `0.75`. */
  maskRatio?: number;
  /** The "encoder w/ [M]" variant: the encoder runs on all L tokens. Defaults to `false`. */
  encoderMaskTokens?: boolean;
  /** Count the decoder (embed, blocks, pred). Defaults to `true`. */
  decoder?: boolean;
  /** Apply the mask at all; `false` = the encoder sees every patch (inference). Defaults to `true`. */
  masked?: boolean;
}

/** Forward matmul FLOPs of one pre-norm block on one sequence of `tokens` tokens. */
export function blockFlops(tokens: number, dim: number, hidden: number): number {
  return (
    2 * tokens * dim * 3 * dim + // qkv
    2 * tokens * tokens * dim + // q·kᵀ, all heads together
    2 * tokens * tokens * dim + // probs·v
    2 * tokens * dim * dim + // proj
    2 * tokens * dim * hidden * 2 // fc1 + fc2
  );
}

/** Forward matmul FLOPs of a batch of `batch` images. */
export function matmulFlops(cfg: BenchConfig, batch: number, options: FlopOptions = {}): number {
  const { maskRatio = 0.75, encoderMaskTokens = false, decoder = true, masked = true } = options;
  const { patchSize: p, inChans: c, embedDim: d } = cfg;
  const l = (cfg.imgSize / p) ** 2;
  const lenKeep = Math.trunc(l * (1 - maskRatio));
  const encTokens = (masked && !encoderMaskTokens ? lenKeep : l) + 1; // + cls
  let f = 2 * l * (c * p * p) * d; // patch embed
  f += cfg.depth * blockFlops(encTokens, d, Math.trunc(d * cfg.mlpRatio));
  if (decoder) {
    const dd = cfg.decoderEmbedDim;
    f += 2 * encTokens * d * dd; // decoder_embed
    f += cfg.decoderDepth * blockFlops(l + 1, dd, Math.trunc(dd * cfg.mlpRatio));
    f += 2 * (l + 1) * dd * (p * p * c); // decoder_pred
  }
  return batch * f;
}

/** GFLOP of one training step (forward + backward = 3 × forward). */
export function trainStepGflop(cfg: BenchConfig, batch: number, options: FlopOptions = {}): number {
  return (3 * matmulFlops(cfg, batch, options)) / 1e9;
}
