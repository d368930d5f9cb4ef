/** The models_vit factories: configs only (`deferBuild`: the weights are not created here). */
import { describe, expect, it } from 'vitest';
import { vitBasePatch16, vitHugePatch14, vitLargePatch16 } from '../../src/classify/presets';

describe('classifier presets', () => {
  it('match vit_base_patch16, vit_large_patch16 and vit_huge_patch14', () => {
    const rows = [vitBasePatch16({ deferBuild: true }), vitLargePatch16({ numClasses: 10, deferBuild: true }), vitHugePatch14({ globalPool: false, deferBuild: true })].map((m) => {
      const c = m.getConfig();
      return [c.patchSize, c.embedDim, c.depth, c.numHeads, c.numClasses, c.globalPool, c.layerNormEps, m.numPatches];
    });
    expect(rows).toEqual([
      [16, 768, 12, 12, 1000, true, 1e-6, 196],
      [16, 1024, 24, 16, 10, true, 1e-6, 196],
      [14, 1280, 32, 16, 1000, false, 1e-6, 256],
    ]);
  });
});
