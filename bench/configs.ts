/**
 * The benchmark configurations: the same shapes, batch sizes and mask ratio
 * as the PyTorch reference (`shared/bench/torch_ref/mae_ref.py` `CONFIGS`,
 * `bench.py` `BATCH`), so GFLOP/step and step-time ratios compare directly.
 */
import type { MAEConfig } from '../src/model/MaskedAutoencoder';

/**
 * One model shape, in the official constructor's vocabulary (camelCase): the
 * architecture fields of the model's resolved {@link MAEConfig}, with a square image.
 */
export interface BenchConfig
  extends Pick<
    MAEConfig,
    'patchSize' | 'inChans' | 'embedDim' | 'depth' | 'numHeads' | 'decoderEmbedDim' | 'decoderDepth' | 'decoderNumHeads' | 'mlpRatio'
  > {
  /** Square image side. */
  imgSize: number;
}

/** The names the CLI accepts (`--config NAME`). */
export type ConfigName = 'tiny32' | 'small64' | 'vitb16' | 'vitl16';

/** The reference configurations (vitl16: inference only, `--official`). */
export const CONFIGS: Record<ConfigName, BenchConfig> = {
  // 32×32, patch 4 → L = 64; 3.1 M trainable parameters
  tiny32: {
    imgSize: 32, patchSize: 4, inChans: 3, embedDim: 192, depth: 6, numHeads: 3,
    decoderEmbedDim: 128, decoderDepth: 2, decoderNumHeads: 4, mlpRatio: 4,
  },
  // 64×64, patch 8 → L = 64; 12.5 M trainable parameters
  small64: {
    imgSize: 64, patchSize: 8, inChans: 3, embedDim: 384, depth: 6, numHeads: 6,
    decoderEmbedDim: 256, decoderDepth: 2, decoderNumHeads: 8, mlpRatio: 4,
  },
  // the official mae_vit_base_patch16 (dec512d8b); 224×224, patch 16 → L = 196
  vitb16: {
    imgSize: 224, patchSize: 16, inChans: 3, embedDim: 768, depth: 12, numHeads: 12,
    decoderEmbedDim: 512, decoderDepth: 8, decoderNumHeads: 16, mlpRatio: 4,
  },
  // the official mae_vit_large_patch16 (dec512d8b); 224×224, patch 16 → L = 196
  vitl16: {
    imgSize: 224, patchSize: 16, inChans: 3, embedDim: 1024, depth: 24, numHeads: 16,
    decoderEmbedDim: 512, decoderDepth: 8, decoderNumHeads: 16, mlpRatio: 4,
  },
};

/** Training batch size per configuration (torch_ref `BATCH`). */
export const BATCH: Record<ConfigName, number> = { tiny32: 32, small64: 16, vitb16: 4, vitl16: 4 };

/** Encoder-only inference batch sizes per configuration (torch_ref measures ViT-B at 1 and 8). */
export const INFER_BATCHES: Record<ConfigName, number[]> = { tiny32: [32], small64: [16], vitb16: [1, 8], vitl16: [1, 8] };

/** The official sizes of `--official`: encoder inference at 224 px, batch 1 against batch 8, ours and PyTorch's. */
export const OFFICIAL_CONFIGS: ConfigName[] = ['vitb16', 'vitl16'];

/** The mask ratio of every training step. */
export const MASK_RATIO = 0.75;

/** Type guard for `--config` values. */
export function isConfigName(name: string): name is ConfigName {
  return Object.prototype.hasOwnProperty.call(CONFIGS, name);
}
