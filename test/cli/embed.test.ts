/** `tfjs-mae embed`: [N, D] float32 .npy of the right model's features, in file order, plus the CSV. */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openImageFolder } from '../../src/cli/data';
import { extractFeatures } from '../../src/eval/features';
import { MaskedAutoencoder } from '../../src/model/MaskedAutoencoder';
import { decodeNpy } from '../../src/node/npy';
import { FIXTURES_DIR } from '../helpers/fixtures';
import { TINY_MAE, useLabelledFolder, writeImageFolder } from '../helpers/labelledFolder';
import { run } from './run';

const CONFIG = { ...TINY_MAE, seed: 3 };
const labelled = useLabelledFolder('embed', { weightsSeed: 3 });
/** 8 images in class folders a/ and b/. */
const images = () => path.join(labelled.data, 'train');

describe('tfjs-mae embed', () => {
  it('writes the encoder features of every image, in the CSV order, with labels', async () => {
    const data = images();
    const out = path.join(labelled.dir, 'features.npy');
    const r = await run('embed', data, '--weights', labelled.weights, '--out', out, '--backend', 'cpu', '--batch-size', '4');
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out.at(-1)).toBe(`wrote ${out}: [8, 32] float32 (mean pooling), and ${path.join(labelled.dir, 'features.csv')} (2 classes)`);
    const { data: values, shape } = decodeNpy(new Uint8Array(fs.readFileSync(out)));
    expect(shape).toEqual([8, 32]);
    const csv = fs.readFileSync(path.join(labelled.dir, 'features.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('path,label,class');
    expect(csv.slice(1)).toEqual([0, 1, 2, 3].map((i) => `${path.join(data, 'a', `img${i}.png`)},0,a`).concat([0, 1, 2, 3].map((i) => `${path.join(data, 'b', `img${i}.png`)},1,b`)));
    // The same numbers as the library on the same images with the same model.
    const mae = new MaskedAutoencoder(CONFIG);
    const folder = await openImageFolder(data, { inputSize: 16, inChans: 3 });
    const expected = await extractFeatures(mae.encoder, folder.evalSource(8));
    expect(Array.from(values)).toEqual(Array.from(await expected.data()));
    tf.dispose(expected);
    mae.dispose();
  });

  it('an official .pth without a config: inferred, said so, and --heads is needed for a non-preset width', async () => {
    const out = path.join(labelled.dir, 'official.npy');
    const imgs = path.join(labelled.dir, 'images32');
    writeImageFolder(imgs, { classes: [], perClass: 2, size: 32 });
    const r = await run('embed', imgs, '--weights', path.join(FIXTURES_DIR, 'mae_tiny.pth'), '--heads', '4', '--decoder-heads', '4', '--out', out, '--pool', 'cls', '--backend', 'cpu');
    expect(r.err).toEqual([]);
    expect(r.out[0]).toMatch(/^note: .*mae_tiny\.pth stores no config; inferred from the names and shapes$/);
    const noHeads = await run('embed', imgs, '--weights', path.join(FIXTURES_DIR, 'mae_tiny.pth'), '--out', out, '--backend', 'cpu');
    expect(noHeads.code).toBe(1);
    expect(noHeads.err[0]).toMatch(/cannot infer numHeads: the encoder is 64 wide, .*; pass it \(--heads N\)$/);
    expect(decodeNpy(new Uint8Array(fs.readFileSync(out))).shape).toEqual([2, 64]);
    expect(fs.readFileSync(path.join(labelled.dir, 'official.csv'), 'utf8').trim().split('\n')[1]).toMatch(/img0\.png,,$/);
  });

  it('needs --weights and --out', async () => {
    expect((await run('embed', images(), '--out', 'x.npy')).err).toEqual(['tfjs-mae: embed needs --weights FILE (see tfjs-mae embed --help)']);
    expect((await run('embed', images(), '--weights', labelled.weights)).err).toEqual(['tfjs-mae: embed needs --out FEATURES.npy']);
  });

  it('names a missing or empty folder before reading the weights', async () => {
    const missing = path.join(labelled.dir, 'typo');
    const noWeights = path.join(labelled.dir, 'no-such-weights.pth');
    const a = await run('embed', missing, '--weights', noWeights, '--out', path.join(labelled.dir, 'x.npy'), '--backend', 'cpu');
    expect(a.code).toBe(1);
    expect(a.err).toEqual([`tfjs-mae: ${JSON.stringify(missing)} is not a folder of images`]);
    expect(a.out).toEqual([]);
    const empty = path.join(labelled.dir, 'empty');
    fs.mkdirSync(empty);
    fs.writeFileSync(path.join(empty, 'notes.txt'), 'no images here');
    const b = await run('embed', empty, '--weights', noWeights, '--out', path.join(labelled.dir, 'x.npy'), '--backend', 'cpu');
    expect(b.err).toEqual([`tfjs-mae: no images (JPEG, PNG or WebP) in ${JSON.stringify(empty)}`]);
  });
});
