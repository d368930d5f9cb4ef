/**
 * The benchmark's FLOP counter against the PyTorch reference
 * (`shared/bench/torch_ref/mae_ref.py` `matmul_flops`). The exact integers
 * below were printed by that function (Debian python3-torch 1.13, 2026-11-27):
 *
 *   import mae_ref as M
 *   M.matmul_flops(M.CONFIGS[c], batch, 0.75[, encoder_mask_tokens=True])
 *   M.matmul_flops(M.CONFIGS['vitb16'], b, masked=False, decoder=False)
 *
 * and RESULTS.md quotes the rounded GFLOP/step (forward × 3). No timing here.
 */
import { describe, expect, it } from 'vitest';
import { BATCH, CONFIGS, type BenchConfig } from '../../bench/configs';
import { blockFlops, matmulFlops, trainStepGflop } from '../../bench/flops';

describe('matmulFlops (forward, one batch)', () => {
  const cases: [keyof typeof CONFIGS, number, number][] = [
    // config, mae, encoder w/ [M]
    ['tiny32', 4794662912, 13604274176],
    ['small64', 9534881792, 26573717504],
    ['vitb16', 78249066496, 183948623872],
  ];
  for (const [name, mae, maskTokens] of cases) {
    it(`${name} batch ${BATCH[name]} equals mae_ref.matmul_flops exactly`, () => {
      expect(matmulFlops(CONFIGS[name], BATCH[name])).toBe(mae);
      expect(matmulFlops(CONFIGS[name], BATCH[name], { encoderMaskTokens: true })).toBe(maskTokens);
    });
  }

  it('reproduces the GFLOP/step of torch_ref RESULTS.md (forward × 3, one decimal)', () => {
    const table: [keyof typeof CONFIGS, number, number][] = [
      ['tiny32', 14.4, 40.8],
      ['small64', 28.6, 79.7],
      ['vitb16', 234.7, 551.8],
    ];
    for (const [name, mae, maskTokens] of table) {
      expect(Math.round(trainStepGflop(CONFIGS[name], BATCH[name]) * 10) / 10).toBe(mae);
      expect(Math.round(trainStepGflop(CONFIGS[name], BATCH[name], { encoderMaskTokens: true }) * 10) / 10).toBe(maskTokens);
    }
  });

  it('gives the FLOP ratios of RESULTS.md (2.84, 2.79, 2.35)', () => {
    const ratio = (name: keyof typeof CONFIGS) =>
      matmulFlops(CONFIGS[name], 1, { encoderMaskTokens: true }) / matmulFlops(CONFIGS[name], 1);
    expect(ratio('tiny32')).toBeCloseTo(2.8374, 4);
    expect(ratio('small64')).toBeCloseTo(2.787, 4);
    expect(ratio('vitb16')).toBeCloseTo(2.3508, 4);
  });

  it('counts ViT-B/16 encoder inference (all 196 patches + cls, no decoder) as 35.1 / 281.0 GFLOP', () => {
    expect(matmulFlops(CONFIGS.vitb16, 1, { masked: false, decoder: false })).toBe(35126120448);
    expect(matmulFlops(CONFIGS.vitb16, 8, { masked: false, decoder: false })).toBe(281008963584);
  });

  it('adds up the terms by hand for a one-block toy model', () => {
    // 8×8 image, patch 4 → L = 4, keep trunc(4 · 0.5) = 2 → 3 encoder tokens with cls
    const toy: BenchConfig = {
      imgSize: 8, patchSize: 4, inChans: 1, embedDim: 8, depth: 1, numHeads: 2,
      decoderEmbedDim: 4, decoderDepth: 1, decoderNumHeads: 1, mlpRatio: 2,
    };
    const block = (t: number, d: number, hidden: number) =>
      2 * t * d * 3 * d + 2 * t * t * d * 2 + 2 * t * d * d + 2 * t * d * hidden * 2;
    const patch = 2 * 4 * 16 * 8;
    const expected = patch + block(3, 8, 16) + 2 * 3 * 8 * 4 + block(5, 4, 8) + 2 * 5 * 4 * 16;
    expect(blockFlops(3, 8, 16)).toBe(block(3, 8, 16));
    expect(matmulFlops(toy, 1, { maskRatio: 0.5 })).toBe(expected);
    expect(matmulFlops(toy, 3, { maskRatio: 0.5 })).toBe(3 * expected);
    // encoder w/ [M]: the encoder sees all 4 patches + cls
    const withM = patch + block(5, 8, 16) + 2 * 5 * 8 * 4 + block(5, 4, 8) + 2 * 5 * 4 * 16;
    expect(matmulFlops(toy, 1, { maskRatio: 0.5, encoderMaskTokens: true })).toBe(withM);
  });
});
