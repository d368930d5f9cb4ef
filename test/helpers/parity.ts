/**
 * The parity checks of one fixture case against the official PyTorch numbers
 * (tolerances from the fixtures' README), shared by test/parity.test.ts and
 * the multi-threaded wasm suite (test/node/wasmThreads.parity.test.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { type MaskedAutoencoder, officialGradients } from '../../src';
import { expectTensorsClose } from '../../src/testing';
import { type MAECase, modelFor } from './fixtures';

/** The official weights stored in a fixture: its `param.*` tensors, by official name. */
export function officialParams(ref: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  return Object.fromEntries(
    Object.entries(ref).filter(([k]) => k.startsWith('param.')).map(([k, v]) => [k.slice('param.'.length), v]),
  );
}

/** The case's model with the official weights stored in its fixture. */
export function officialModel(c: MAECase, ref: Record<string, tf.Tensor>): MaskedAutoencoder {
  const model = modelFor(c);
  model.loadStateDict(officialParams(ref), { naming: 'official' });
  return model;
}

/** Masks and ids exact; latent and pred ≤ 2e-5; loss ≤ 1e-5. */
export async function expectForwardMatches(model: MaskedAutoencoder, ref: Record<string, tf.Tensor>): Promise<void> {
  const out = model.forward(ref['input.imgs_nhwc'], { noise: ref['input.noise'] });
  try {
    expect(out.idsKeep.shape[1]).toBe(ref['out.ids_keep'].shape[1]);
    expect(Array.from(await out.mask.data())).toEqual(Array.from(await ref['out.mask'].data()));
    expect(Array.from(await out.idsRestore.data())).toEqual(Array.from(await ref['out.ids_restore'].data()));
    expect(Array.from(await out.idsKeep.data())).toEqual(Array.from(await ref['out.ids_keep'].data()));
    await expectTensorsClose(out.latent, ref['out.latent'], { atol: 2e-5, name: 'latent' });
    await expectTensorsClose(out.pred, ref['out.pred'], { atol: 2e-5, name: 'pred' });
    await expectTensorsClose(out.loss, ref['out.loss'], { atol: 1e-5, name: 'loss' });
  } finally {
    tf.dispose(Object.values(out));
  }
}

/** Loss ≤ 1e-5; every official gradient present, each ≤ 1e-5 × max|ref| (+1e-9). */
export async function expectGradsMatch(model: MaskedAutoencoder, ref: Record<string, tf.Tensor>, { recompute = false } = {}): Promise<void> {
  const { value, grads } = tf.variableGrads(() => model.loss(ref['input.imgs_nhwc'], { noise: ref['input.noise'], recompute }));
  const ours = officialGradients(model.stateEntries(), grads);
  try {
    await expectTensorsClose(value, ref['out.loss'], { atol: 1e-5, name: 'loss' });
    const expected = Object.keys(ref).filter((k) => k.startsWith('grad.')).map((k) => k.slice('grad.'.length));
    expect(Object.keys(ours).sort()).toEqual(expected.sort());
    for (const name of expected) {
      const r = ref[`grad.${name}`];
      const scale = (await tf.max(tf.abs(r)).data())[0];
      await expectTensorsClose(ours[name], r, { atol: 1e-5 * scale + 1e-9, name: `grad.${name}` });
    }
  } finally {
    tf.dispose([value, ...Object.values(grads), ...Object.values(ours)]);
  }
}
