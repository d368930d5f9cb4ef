/**
 * Presets: the official factories of `models_mae.py` (decoder 512 wide,
 * 8 deep, 16 heads; LayerNorm eps 1e-6), plus a tiny one for 28–32 px images.
 * Each takes overrides of any config key, e.g. `maeVitBasePatch16({ normPixLoss: true })`.
 */
import { MaskedAutoencoder, type MaskedAutoencoderArgs } from './MaskedAutoencoder';

const OFFICIAL_DECODER = { decoderEmbedDim: 512, decoderDepth: 8, decoderNumHeads: 16, mlpRatio: 4, layerNormEps: 1e-6 };

/** `mae_vit_base_patch16_dec512d8b`: 224 px, patch 16, 768 wide, 12 blocks, 12 heads (111.9 M numbers in the state dict). */
export function maeVitBasePatch16(overrides: MaskedAutoencoderArgs = {}): MaskedAutoencoder {
  return new MaskedAutoencoder({ imgSize: 224, patchSize: 16, embedDim: 768, depth: 12, numHeads: 12, ...OFFICIAL_DECODER, ...overrides });
}

/** `mae_vit_large_patch16_dec512d8b`: 224 px, patch 16, 1024 wide, 24 blocks, 16 heads. */
export function maeVitLargePatch16(overrides: MaskedAutoencoderArgs = {}): MaskedAutoencoder {
  return new MaskedAutoencoder({ imgSize: 224, patchSize: 16, embedDim: 1024, depth: 24, numHeads: 16, ...OFFICIAL_DECODER, ...overrides });
}

/** `mae_vit_huge_patch14_dec512d8b`: 224 px, patch 14, 1280 wide, 32 blocks, 16 heads. */
export function maeVitHugePatch14(overrides: MaskedAutoencoderArgs = {}): MaskedAutoencoder {
  return new MaskedAutoencoder({ imgSize: 224, patchSize: 14, embedDim: 1280, depth: 32, numHeads: 16, ...OFFICIAL_DECODER, ...overrides });
}

/**
 * A tiny MAE for 28–32 px images (MNIST, Fashion-MNIST, CIFAR): by default
 * 28 px, 1 channel, patch 4 (49 patches), 128 wide, 4 blocks, 4 heads;
 * decoder 64 wide, 2 blocks, 4 heads (≈0.9 M parameters) — the recipe of our
 * Fashion-MNIST experiment. For CIFAR: `maeVitTinyPatch4({ imgSize: 32, inChans: 3 })`.
 */
export function maeVitTinyPatch4(overrides: MaskedAutoencoderArgs = {}): MaskedAutoencoder {
  return new MaskedAutoencoder({
    imgSize: 28,
    patchSize: 4,
    inChans: 1,
    embedDim: 128,
    depth: 4,
    numHeads: 4,
    decoderEmbedDim: 64,
    decoderDepth: 2,
    decoderNumHeads: 4,
    mlpRatio: 4,
    layerNormEps: 1e-6,
    ...overrides,
  });
}
