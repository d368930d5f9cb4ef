/**
 * The decoder takes any encoder output `[N, 1 + lenKeep, D]` plus
 * `idsRestore`: hand-made latents, any kept order, K = L and K = 1; hidden
 * states and attention maps on request; `forwardMasked` (the removed
 * patches' rows only) against `forward`; leaks. cpu and wasm.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAEDecoder, MAEInputError, removedPatchRows } from '../../src';
import { maskSampleFromIdsKeep } from '../../src/mask/idsKeep';
import { RandomMasking } from '../../src/mask/RandomMasking';
import type { DecoderOutput } from '../../src/decode/MAEDecoder';
import { describeBackends, expectNoLeaks, expectTensorsClose } from '../../src/testing';

const all = (o: DecoderOutput): tf.Tensor[] => [o.pred, ...(o.hiddenStates ?? []), ...(o.attentions ?? [])];

/** `[N, 1 + K, D]` with the cls row first and row k+1 = the token of patch ids[n][k]. */
function latentFor(tokens: number[][][], cls: number[][], ids: number[][]): tf.Tensor3D {
  return tf.tensor3d(ids.map((row, n) => [cls[n], ...row.map((i) => tokens[n][i])]));
}

/** Restore ids for kept ids given on the host. */
function restoreFor(ids: number[][], l: number): { idsRestore: tf.Tensor2D; dispose: () => void } {
  const t = tf.tensor2d(ids, undefined, 'int32');
  const s = maskSampleFromIdsKeep(t, l);
  t.dispose();
  return { idsRestore: s.idsRestore, dispose: () => tf.dispose([s.idsKeep, s.idsRestore, s.mask]) };
}

describeBackends(['cpu', 'wasm'], (backend) => {
  let dec: MAEDecoder;
  let tokens: number[][][];
  let cls: number[][];
  beforeAll(async () => {
    // grid 2×3 (L = 6), patch 2, 1 channel: pred [N, 6, 4]; encoder width 5
    dec = new MAEDecoder({ gridSize: [2, 3], patchSize: 2, inChans: 1, embedDim: 5, decoderEmbedDim: 8, decoderDepth: 2, decoderNumHeads: 2, seed: 4 });
    const t = tf.randomNormal([2, 6, 5], 0, 1, 'float32', 8);
    const c = tf.randomNormal([2, 5], 0, 1, 'float32', 9);
    tokens = (await t.array()) as number[][][];
    cls = (await c.array()) as number[][];
    tf.dispose([t, c]);
  });
  afterAll(() => dec.dispose());

  describe(`hand-made encoder outputs [${backend}]`, () => {
    it('the order of the kept tokens does not matter when idsRestore matches it', async () => {
      const orders = [
        [[1, 4, 5], [0, 2, 3]],
        [[5, 1, 4], [3, 0, 2]],
        [[4, 5, 1], [2, 3, 0]],
      ];
      const preds: tf.Tensor[] = [];
      for (const ids of orders) {
        const latent = latentFor(tokens, cls, ids);
        const r = restoreFor(ids, 6);
        const out = dec.forward(latent, r.idsRestore);
        expect(out.pred.shape).toEqual([2, 6, 4]);
        preds.push(out.pred);
        latent.dispose();
        r.dispose();
      }
      await expectTensorsClose(preds[1], preds[0], { atol: 1e-5, name: 'pred, order 2' });
      await expectTensorsClose(preds[2], preds[0], { atol: 1e-5, name: 'pred, order 3' });
      tf.dispose(preds);
    });

    it('the order of the removed ids in idsRestore does not matter (random-masking restore vs patch-order restore)', async () => {
      const noise = tf.randomUniform([2, 6], 0, 1, 'float32', 3);
      const r = new RandomMasking().sample(2, [2, 3], { maskRatio: 0.5, noise }); // removed in noise order
      const ids = (await r.idsKeep.array()) as number[][];
      const latent = latentFor(tokens, cls, ids);
      const p = restoreFor(ids, 6); // removed in patch order
      const a = dec.forward(latent, r.idsRestore).pred;
      const b = dec.forward(latent, p.idsRestore).pred;
      await expectTensorsClose(b, a, { atol: 1e-6 });
      tf.dispose([noise, latent, a, b, r.idsKeep, r.idsRestore, r.mask]);
      p.dispose();
    });

    it('K = L (no mask tokens) and K = 1 (all but one) work', async () => {
      for (const ids of [[[0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0]], [[2], [4]]]) {
        const latent = latentFor(tokens, cls, ids);
        const r = restoreFor(ids, 6);
        const out = dec.forward(latent, r.idsRestore);
        expect(out.pred.shape).toEqual([2, 6, 4]);
        expect(Array.from(await out.pred.data()).every(Number.isFinite)).toBe(true);
        tf.dispose([latent, out.pred]);
        r.dispose();
      }
    });

    it('rejects a latent of the wrong width or length with a typed error, leaking nothing', async () => {
      const wide = tf.zeros([2, 3, 6]);
      const long = tf.zeros([2, 8, 5]);
      const r = restoreFor([[0, 1], [0, 1]], 6);
      await expectNoLeaks(() => {
        expect(() => dec.forward(wide, r.idsRestore)).toThrow(MAEInputError);
        expect(() => dec.forward(wide, r.idsRestore)).toThrow(/latent must have shape \[N, 1 \+ lenKeep, 5\] with 1 ≤ lenKeep ≤ 6, got \[2, 3, 6\]/);
        expect(() => dec.forward(long, r.idsRestore)).toThrow(/got \[2, 8, 5\]/);
      });
      tf.dispose([wide, long]);
      r.dispose();
    });
  });

  describe(`hidden states and attention maps [${backend}]`, () => {
    it('one per block; pred = head(norm(h[last])) without the cls row; attention rows sum to 1', async () => {
      const ids = [[1, 4, 5], [0, 2, 3]];
      const latent = latentFor(tokens, cls, ids);
      const r = restoreFor(ids, 6);
      const plain = dec.forward(latent, r.idsRestore);
      const out = dec.forward(latent, r.idsRestore, { outputHiddenStates: true, outputAttentions: true });
      const h = out.hiddenStates!;
      expect(h.length).toBe(2);
      expect(h[1].shape).toEqual([2, 7, 8]);
      expect(out.attentions!.map((a) => a.shape)).toEqual([[2, 2, 7, 7], [2, 2, 7, 7]]);
      await expectTensorsClose(out.pred, plain.pred, { atol: 0, name: 'pred with and without outputs' });
      const head = tf.tidy(() => tf.slice(dec.decoderPred.call(dec.decoderNorm.call(h[1])), [0, 1, 0], [2, 6, 4]));
      const chained = dec.decoderBlocks[1].call(h[0]);
      await expectTensorsClose(head, out.pred, { atol: 1e-6, name: 'pred from the last hidden state' });
      await expectTensorsClose(chained, h[1], { atol: 1e-6, name: 'h[1] = block1(h[0])' });
      for (const a of out.attentions!) {
        const rows = tf.sum(a, -1);
        await expectTensorsClose(rows, tf.onesLike(rows), { atol: 1e-6, name: 'attention row sums' });
        rows.dispose();
      }
      tf.dispose([latent, head, chained, ...all(plain), ...all(out)]);
      r.dispose();
    });

    it('no leak: without the flags only pred exists; with them 1 + 2·depth, all freed; nor when a block throws', async () => {
      const ids = [[1, 4], [0, 2]];
      const latent = latentFor(tokens, cls, ids);
      const r = restoreFor(ids, 6);
      await expectNoLeaks(() => {
        const before = tf.memory().numTensors;
        const plain = dec.forward(latent, r.idsRestore);
        expect(plain.hiddenStates).toBeUndefined();
        expect(plain.attentions).toBeUndefined();
        expect(tf.memory().numTensors - before).toBe(1);
        tf.dispose(all(plain));
        const full = dec.forward(latent, r.idsRestore, { outputHiddenStates: true, outputAttentions: true });
        expect(tf.memory().numTensors - before).toBe(1 + 2 * 2);
        tf.dispose(all(full));
        const block = dec.decoderBlocks[1];
        const original = block.call.bind(block);
        block.call = () => {
          throw new Error('boom');
        };
        try {
          expect(() => dec.forward(latent, r.idsRestore, { outputHiddenStates: true, outputAttentions: true })).toThrow('boom');
        } finally {
          block.call = original;
        }
      });
      latent.dispose();
      r.dispose();
    });
  });

  describe(`forwardMasked: the removed patches only [${backend}]`, () => {
    it('gives the rows idsMasked of forward().pred, and idsMasked is idsShuffle[:, K:]', async () => {
      const ids = [[1, 4], [5, 0]]; // K = 2 of L = 6
      const latent = latentFor(tokens, cls, ids);
      const r = restoreFor(ids, 6);
      const full = dec.forward(latent, r.idsRestore);
      const masked = dec.forwardMasked(latent, r.idsRestore);
      expect(masked.pred.shape).toEqual([2, 4, 4]);
      const idsMasked = (await masked.idsMasked.array()) as number[][];
      const restore = (await r.idsRestore.array()) as number[][];
      idsMasked.forEach((row, n) => {
        expect(new Set([...ids[n], ...row]).size).toBe(6); // kept ∪ removed = all
        row.forEach((p, j) => expect(restore[n][p]).toBe(2 + j)); // shuffle order after the K kept
      });
      const fullRows = (await full.pred.array()) as number[][][];
      const expected = tf.tensor3d(idsMasked.map((row, n) => row.map((p) => fullRows[n][p])));
      await expectTensorsClose(masked.pred, expected, { atol: 1e-5, name: 'masked rows' });
      tf.dispose([latent, full.pred, masked.pred, masked.idsMasked, expected]);
      r.dispose();
    });

    it('gives the same gradients as forward() restricted to those rows, leaking nothing', async () => {
      const ids = [[2, 3, 0], [1, 5, 4]];
      const latent = latentFor(tokens, cls, ids);
      const r = restoreFor(ids, 6);
      const w = tf.randomNormal([2, 3, 4], 0, 1, 'float32', 3); // a weighting of the removed rows
      const viaMasked = tf.variableGrads(() => {
        const o = dec.forwardMasked(latent, r.idsRestore);
        return tf.sum(tf.mul(o.pred, w)) as tf.Scalar;
      });
      // the same weights at the removed patches' places in patch order, 0 elsewhere
      const idsMasked = dec.forwardMasked(latent, r.idsRestore);
      const m = (await idsMasked.idsMasked.array()) as number[][];
      const wRows = (await w.array()) as number[][][];
      const wFull = tf.tensor3d(m.map((row, n) => Array.from({ length: 6 }, (_, p) => (row.includes(p) ? wRows[n][row.indexOf(p)] : [0, 0, 0, 0]))));
      const viaFull = tf.variableGrads(() => tf.sum(tf.mul(dec.forward(latent, r.idsRestore).pred, wFull)) as tf.Scalar);
      await expectTensorsClose(viaMasked.value, viaFull.value, { atol: 1e-4, name: 'value' });
      for (const name of Object.keys(viaFull.grads)) {
        await expectTensorsClose(viaMasked.grads[name], viaFull.grads[name], { atol: 1e-5, name });
      }
      tf.dispose([viaMasked.value, viaFull.value, ...Object.values(viaMasked.grads), ...Object.values(viaFull.grads)]);
      tf.dispose([idsMasked.pred, idsMasked.idsMasked, wFull]);
      await expectNoLeaks(() => {
        const { value, grads } = tf.variableGrads(() => tf.sum(dec.forwardMasked(latent, r.idsRestore).pred) as tf.Scalar);
        tf.dispose([value, ...Object.values(grads)]);
      }, 'forwardMasked forward + backward');
      tf.dispose([latent, w]);
      r.dispose();
    });

    it('rejects a latent that keeps every patch (nothing to predict), leaking nothing', async () => {
      const ids = [[0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0]];
      const latent = latentFor(tokens, cls, ids);
      const r = restoreFor(ids, 6);
      await expectNoLeaks(() => {
        expect(() => dec.forwardMasked(latent, r.idsRestore)).toThrow(MAEInputError);
        expect(() => dec.forwardMasked(latent, r.idsRestore)).toThrow(/keeps all 6 patches/);
      });
      latent.dispose();
      r.dispose();
    });

    it('removedPatchRows: ids are the removed patches + 1 (cls first), inverse inverts [ids, 0, kept + 1]', async () => {
      const ids = [[4, 1], [0, 3]];
      const r = restoreFor(ids, 6);
      const { rows, idsMasked } = removedPatchRows(r.idsRestore, 2);
      const m = (await idsMasked.array()) as number[][];
      const rowIds = (await rows.ids.array()) as number[][];
      const inv = (await rows.inverse.array()) as number[][];
      rowIds.forEach((row, n) => {
        expect(row).toEqual(m[n].map((p) => p + 1));
        const order = [...row, 0, ...ids[n].map((p) => p + 1)];
        order.forEach((v, j) => expect(inv[n][v]).toBe(j));
      });
      tf.dispose([rows.ids, rows.inverse, idsMasked]);
      r.dispose();
    });
  });
}, { describe, beforeAll });
