/**
 * The custom masking strategy of docs/build-your-own.md: the doc shows
 * examples/custom-ssl/firstK.ts verbatim (checked here), and the strategy
 * meets the masking contract, plugs into a model by config and trains.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { MaskedAutoencoder, createMasking } from 'tfjs-mae';
import { expectNoLeaks } from 'tfjs-mae/testing';
import { FirstK } from './firstK';
import { checkSample, disposeSample } from '../../test/mask/contract';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const tiny = { imgSize: 8, patchSize: 2, inChans: 1, embedDim: 8, depth: 1, numHeads: 2, decoderEmbedDim: 8, decoderDepth: 1, decoderNumHeads: 2, seed: 1 };

describe('FirstK, the custom strategy of build-your-own.md', () => {
  it('is shown verbatim in the guide', () => {
    const doc = readFileSync(new URL('../../docs/build-your-own.md', import.meta.url), 'utf8');
    const source = readFileSync(new URL('./firstK.ts', import.meta.url), 'utf8');
    const block = /<!-- examples\/custom-ssl\/firstK\.ts -->\n```ts\n([\s\S]*?)```/.exec(doc);
    expect(block, 'the guide has the marked code block').not.toBeNull();
    expect(block![1]).toBe(source);
  });

  it('keeps the first K patches of every sample, meeting the masking contract', async () => {
    const s = new FirstK().sample(3, [4, 4], { maskRatio: 0.75 });
    const { keep, mask } = await checkSample(s, 3, 16, 4);
    expect(keep).toEqual([[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3]]);
    expect(mask[0]).toEqual([0, 0, 0, 0, ...Array(12).fill(1)]);
    disposeSample(s);
    const all = new FirstK().sample(1, [2, 2], { maskRatio: 0 });
    expect((await checkSample(all, 1, 4, 4)).keep).toEqual([[0, 1, 2, 3]]);
    disposeSample(all);
    expect(() => new FirstK().lenKeep([2, 2], 0.9)).toThrow(/keeps Math\.trunc\(4 \* \(1 - 0\.9\)\) = 0 of 4 patches/);
  });

  it("plugs into a model by config ({ type: 'first-k' }), survives getConfig → fromConfig and trains without leaks", async () => {
    expect(createMasking('first-k')).toBeInstanceOf(FirstK);
    const mae = new MaskedAutoencoder({ ...tiny, masking: { type: 'first-k' } });
    const copy = MaskedAutoencoder.fromConfig(MaskedAutoencoder, JSON.parse(JSON.stringify(mae.getConfig()))) as MaskedAutoencoder;
    expect(copy.config.masking).toEqual({ type: 'first-k' });
    const imgs = tf.randomNormal([2, 8, 8, 1], 0, 1, 'float32', 2);
    const out = mae.forward(imgs);
    expect(Array.from(await out.mask.data()).slice(0, 16)).toEqual([...Array(4).fill(0), ...Array(12).fill(1)]);
    tf.dispose(Object.values(out) as tf.Tensor[]);
    const opt = tf.train.adam(1e-2);
    const losses: number[] = [];
    await expectNoLeaks(async () => {
      const cost = opt.minimize(() => mae.loss(imgs), true)!;
      losses.push((await cost.data())[0]);
      cost.dispose();
    }, { warmup: 1, name: 'FirstK training step' });
    for (let i = 0; i < 10; i++) {
      const cost = opt.minimize(() => mae.loss(imgs), true)!;
      losses.push((await cost.data())[0]);
      cost.dispose();
    }
    expect(losses.at(-1)!).toBeLessThan(losses[0]);
    tf.dispose(imgs);
    opt.dispose();
    mae.dispose();
    copy.dispose();
  });
});
