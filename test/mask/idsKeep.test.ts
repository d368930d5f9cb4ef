/** Externally given kept patches → a full sample, on the device, on cpu and wasm. */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAEInputError } from '../../src';
import { maskSampleFromIdsKeep } from '../../src/mask/idsKeep';
import { RandomMasking } from '../../src/mask/RandomMasking';
import { describeBackends, expectNoLeaks, expectTensorsClose } from '../../src/testing';
import { checkSample, disposeSample } from './contract';

describeBackends(['cpu', 'wasm'], (backend) => {
  describe(`maskSampleFromIdsKeep [${backend}]`, () => {
    it('idsRestore = argsort(idsKeep ++ the rest in patch order) (hand-checked)', async () => {
      const ids = tf.tensor2d([[5, 0, 3], [1, 2, 4]], [2, 3], 'int32');
      const s = maskSampleFromIdsKeep(ids, 6);
      const { keep, restore, mask } = await checkSample(s, 2, 6, 3);
      expect(keep).toEqual([[5, 0, 3], [1, 2, 4]]);
      // shuffled [5, 0, 3, 1, 2, 4] → restore [1, 3, 4, 2, 5, 0]; shuffled [1, 2, 4, 0, 3, 5] → [3, 0, 1, 4, 2, 5]
      expect(restore).toEqual([[1, 3, 4, 2, 5, 0], [3, 0, 1, 4, 2, 5]]);
      expect(mask).toEqual([[0, 1, 1, 0, 1, 0], [1, 0, 0, 1, 0, 1]]);
      disposeSample(s);
      ids.dispose();
    });

    it('reproduces a random-masking sample from its idsKeep (removed ids then in patch order, not noise order)', async () => {
      const r = new RandomMasking().sample(3, [4, 4], { maskRatio: 0.75, seed: 4 });
      const s = maskSampleFromIdsKeep(r.idsKeep, 16);
      await checkSample(s, 3, 16, 4);
      await expectTensorsClose(s.idsKeep, r.idsKeep, { atol: 0, name: 'idsKeep' });
      await expectTensorsClose(s.mask, r.mask, { atol: 0, name: 'mask' });
      // kept patches sit at the same shuffled positions
      const kept = tf.mul(tf.sub(1, r.mask), tf.cast(r.idsRestore, 'float32'));
      const keptOurs = tf.mul(tf.sub(1, s.mask), tf.cast(s.idsRestore, 'float32'));
      await expectTensorsClose(keptOurs, kept, { atol: 0, name: 'idsRestore of kept patches' });
      tf.dispose([kept, keptOurs]);
      disposeSample(r);
      disposeSample(s);
    });

    it('K = L (no masking) and K = 1 work', async () => {
      const all = tf.tensor2d([[2, 0, 1, 3]], [1, 4], 'int32');
      const one = tf.tensor2d([[2]], [1, 1], 'int32');
      const a = maskSampleFromIdsKeep(all, 4);
      const b = maskSampleFromIdsKeep(one, 4);
      expect((await checkSample(a, 1, 4, 4)).restore).toEqual([[1, 2, 0, 3]]);
      expect((await checkSample(b, 1, 4, 1)).restore).toEqual([[1, 2, 0, 3]]);
      [a, b].forEach(disposeSample);
      tf.dispose([all, one]);
    });

    it('checks shape and dtype with typed errors, leaking nothing', async () => {
      const f = tf.tensor2d([[0, 1]], [1, 2], 'float32');
      const wide = tf.zeros([1, 5], 'int32');
      await expectNoLeaks(() => {
        expect(() => maskSampleFromIdsKeep(f, 4)).toThrow(MAEInputError);
        expect(() => maskSampleFromIdsKeep(f, 4)).toThrow(/idsKeep must be int32 \[N, K\] with 1 ≤ K ≤ L = 4, got float32 \[1, 2\]/);
        expect(() => maskSampleFromIdsKeep(wide, 4)).toThrow(/got int32 \[1, 5\]/);
        expect(() => maskSampleFromIdsKeep([[0]] as unknown as tf.Tensor, 4)).toThrow(/idsKeep must be a tf.Tensor/);
        disposeSample(maskSampleFromIdsKeep(wide, 5));
      });
      tf.dispose([f, wide]);
    });
  });
}, { describe, beforeAll });
