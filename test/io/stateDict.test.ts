/**
 * Back to PyTorch: official params → our model → stateDict → safetensors is
 * bit-identical to the official state dict, with official and with HF names;
 * also for the classifier and the linear-probe head's integer counter.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MaskedAutoencoder } from '../../src/model/MaskedAutoencoder';
import { ViTClassifier } from '../../src/classify/ViTClassifier';
import { parseSafetensors, readSafetensors, writeSafetensors } from '../../src/io/safetensors';
import { expectNoLeaks } from '../../src/testing';
import { FIXTURES_DIR, maeCases, modelFor, readBytes } from '../helpers/fixtures';

const fixture = (name: string): Record<string, tf.Tensor> => readSafetensors(readBytes(path.join(FIXTURES_DIR, name)));
const paramsOf = (ref: Record<string, tf.Tensor>): Record<string, tf.Tensor> =>
  Object.fromEntries(Object.entries(ref).filter(([k]) => k.startsWith('param.')).map(([k, v]) => [k.slice(6), v]));

/** Asserts both dicts hold the same names (in the same order when `ordered`) and bit-identical tensors. */
async function expectSameDict(actual: Record<string, tf.Tensor>, expected: Record<string, tf.Tensor>, ordered = true): Promise<void> {
  const [a, e] = [Object.keys(actual), Object.keys(expected)];
  expect(ordered ? a : [...a].sort()).toEqual(ordered ? e : [...e].sort());
  for (const name of e) {
    const [x, y] = [actual[name], expected[name]];
    expect(x.shape, name).toEqual(y.shape);
    expect(x.dtype, name).toBe(y.dtype);
    const [dx, dy] = [await x.data(), await y.data()];
    const bits = (d: ArrayLike<number>) => new Uint8Array((d as Float32Array).buffer, (d as Float32Array).byteOffset, (d as Float32Array).byteLength);
    expect(Buffer.compare(bits(dx), bits(dy)), name).toBe(0);
  }
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('export to official and HF safetensors', () => {
  for (const c of maeCases()) {
    describe(c.name, () => {
      let ref: Record<string, tf.Tensor>;
      let model: MaskedAutoencoder;
      beforeAll(() => {
        ref = readSafetensors(readBytes(c.safetensors));
        model = modelFor(c);
        model.loadStateDict(paramsOf(ref), { naming: 'official' });
      });
      afterAll(() => {
        model.dispose();
        tf.dispose(Object.values(ref));
      });

      it('official names: params → model → stateDict → safetensors is bit-identical, in state-dict order', async () => {
        const sd = model.stateDict();
        const file = await writeSafetensors(sd);
        const back = readSafetensors(file);
        await expectSameDict(sd, paramsOf(ref));
        await expectSameDict(back, paramsOf(ref));
        expect([...parseSafetensors(file).tensors.keys()]).toEqual(Object.keys(paramsOf(ref)));
        tf.dispose([...Object.values(sd), ...Object.values(back)]);
      });

      if (c.hf) {
        const hfFile = c.hf;
        it('HF names: stateDict({ naming: "hf" }) equals the HuggingFace-named file bit for bit', async () => {
          const hf = readSafetensors(readBytes(hfFile));
          const sd = model.stateDict({ naming: 'hf' });
          const back = readSafetensors(await writeSafetensors(sd));
          await expectSameDict(sd, hf, false);
          await expectSameDict(back, hf, false);
          tf.dispose([...Object.values(hf), ...Object.values(sd), ...Object.values(back)]);
        });
      }

      it('exporting leaks nothing', async () => {
        await expectNoLeaks(async () => {
          const sd = model.stateDict({ naming: 'hf' });
          await writeSafetensors(sd);
          tf.dispose(Object.values(sd));
        }, 'export');
      });
    });
  }

  it('the classifier exports vit_cls_tiny bit for bit', async () => {
    const ref = fixture('vit_cls_tiny.safetensors');
    const clf = new ViTClassifier({ imgSize: 32, patchSize: 8, numClasses: 10, embedDim: 64, depth: 2, numHeads: 4 });
    clf.loadStateDict(paramsOf(ref));
    const sd = clf.stateDict();
    const back = readSafetensors(await writeSafetensors(sd));
    await expectSameDict(back, paramsOf(ref));
    tf.dispose([...Object.values(sd), ...Object.values(back), ...Object.values(ref)]);
    clf.dispose();
  });

  it('the linear-probe head round-trips its int counter as I32 (torch copies it into its int64 buffer)', async () => {
    const a = new ViTClassifier({ imgSize: 16, patchSize: 8, numClasses: 3, embedDim: 16, depth: 1, numHeads: 2, head: 'linprobe', seed: 1 });
    const imgs = tf.randomNormal([3, 16, 16, 3], 0, 1, 'float32', 2);
    for (let i = 0; i < 2; i++) {
      const o = a.forward(imgs, { training: true });
      tf.dispose([o.logits, o.features]);
    }
    const file = await writeSafetensors(a.stateDict());
    expect(parseSafetensors(file).tensors.get('head.0.num_batches_tracked')).toMatchObject({ sourceDtype: 'I32', shape: [] });
    const b = new ViTClassifier({ ...(a.getConfig() as object), name: undefined, seed: 9 });
    const tensors = readSafetensors(file);
    b.loadStateDict(tensors);
    const [sb, sa] = [b.stateDict(), a.stateDict()];
    await expectSameDict(sb, sa);
    tf.dispose([...Object.values(sb), ...Object.values(sa)]);
    expect((await (b.head as unknown as { numBatchesTracked: { read(): tf.Tensor } }).numBatchesTracked.read().data())[0]).toBe(2);
    tf.dispose([imgs, ...Object.values(tensors)]);
    a.dispose();
    b.dispose();
  });
});
