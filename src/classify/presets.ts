/**
 * The official fine-tuning factories of `models_vit.py` (qkv bias, LayerNorm
 * eps 1e-6, 224 px). Each takes overrides of any config key, e.g.
 * `vitBasePatch16({ numClasses: 10, dropPath: 0.1 })`.
 */
import { ViTClassifier, type ViTClassifierArgs } from './ViTClassifier';

const OFFICIAL = { imgSize: 224, mlpRatio: 4, qkvBias: true, layerNormEps: 1e-6 };

/** `vit_base_patch16`: patch 16, 768 wide, 12 blocks, 12 heads (`mae_finetuned_vit_base.pth`). Defaults to 1000 classes, global pool. */
export function vitBasePatch16(overrides: ViTClassifierArgs = {}): ViTClassifier {
  return new ViTClassifier({ ...OFFICIAL, patchSize: 16, embedDim: 768, depth: 12, numHeads: 12, ...overrides });
}

/** `vit_large_patch16`: patch 16, 1024 wide, 24 blocks, 16 heads (`mae_finetuned_vit_large.pth`). */
export function vitLargePatch16(overrides: ViTClassifierArgs = {}): ViTClassifier {
  return new ViTClassifier({ ...OFFICIAL, patchSize: 16, embedDim: 1024, depth: 24, numHeads: 16, ...overrides });
}

/** `vit_huge_patch14`: patch 14, 1280 wide, 32 blocks, 16 heads (`mae_finetuned_vit_huge.pth`). */
export function vitHugePatch14(overrides: ViTClassifierArgs = {}): ViTClassifier {
  return new ViTClassifier({ ...OFFICIAL, patchSize: 14, embedDim: 1280, depth: 32, numHeads: 16, ...overrides });
}
