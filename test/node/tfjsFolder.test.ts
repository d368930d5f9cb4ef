/**
 * writeTfjsFolder writes what saveModel writes to a folder (same model.json
 * apart from the shard names; loadModel gives back the same weights, bit
 * for bit), one weight at a time across shards a weight may span; the
 * folder is replaced as a whole, and a failure leaves the old one.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MaskedAutoencoder, ViTEncoder, loadModel, maeVitTinyPatch4, nodeFolderHandler, saveModel } from '../../src';
import { writeTfjsFolder } from '../../src/node/tfjsFolder';

let dir: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-mae-tfjs-folder-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const json = (folder: string): Record<string, unknown> => JSON.parse(fs.readFileSync(path.join(folder, 'model.json'), 'utf8'));

describe('writeTfjsFolder', () => {
  it('writes the model.json saveModel writes, in shards a weight may span, and loads back bit for bit', async () => {
    const mae = maeVitTinyPatch4({ seed: 5 });
    const streamed = path.join(dir, 'streamed');
    const whole = path.join(dir, 'whole');
    const written = await writeTfjsFolder(streamed, mae, { metadata: { recipe: '{"lr":1}' }, shardBytes: 10_000 });
    await saveModel(mae, nodeFolderHandler(whole), { metadata: { recipe: '{"lr":1}' } });
    const bytes = fs.statSync(path.join(whole, 'weights.bin')).size;
    expect(written.bytes).toBe(bytes);
    expect(written.shards).toHaveLength(Math.ceil(bytes / 10_000));
    expect(written.shards[0]).toBe(`group1-shard1of${written.shards.length}.bin`);
    expect(fs.readdirSync(streamed).sort()).toEqual([...written.shards, 'model.json'].sort());
    // the same bytes, cut into shards
    const joined = Buffer.concat(written.shards.map((s) => fs.readFileSync(path.join(streamed, s))));
    expect(joined.equals(fs.readFileSync(path.join(whole, 'weights.bin')))).toBe(true);
    const [a, b] = [json(streamed), json(whole)];
    const manifest = (j: Record<string, unknown>) => (j.weightsManifest as Array<{ paths: string[]; weights: unknown[] }>)[0];
    expect(manifest(a).weights).toEqual(manifest(b).weights);
    expect({ ...a, weightsManifest: null }).toEqual({ ...b, weightsManifest: null });
    const again = await loadModel<MaskedAutoencoder>(nodeFolderHandler(streamed));
    const [x, y] = [mae.stateDict(), again.stateDict()];
    for (const name of Object.keys(x)) expect(Buffer.from((await y[name].data()).buffer).equals(Buffer.from((await x[name].data()).buffer)), name).toBe(true);
    tf.dispose([...Object.values(x), ...Object.values(y)]);
    again.dispose();
    mae.dispose();
  });

  it('one shard is weights.bin; an existing folder is replaced as a whole, nothing left beside it', async () => {
    const enc = new ViTEncoder({ imgSize: 16, patchSize: 4, embedDim: 32, depth: 1, numHeads: 2, seed: 1 });
    const out = path.join(dir, 'replace');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'stale.bin'), 'old');
    const written = await writeTfjsFolder(out, enc);
    expect(written.shards).toEqual(['weights.bin']);
    expect(fs.readdirSync(out).sort()).toEqual(['model.json', 'weights.bin']);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
    (await loadModel(nodeFolderHandler(out))).dispose();
    enc.dispose();
  });

  it('a failure while writing leaves the old folder and no temporary one', async () => {
    const enc = new ViTEncoder({ imgSize: 16, patchSize: 4, embedDim: 32, depth: 1, numHeads: 2, seed: 1 });
    const out = path.join(dir, 'kept');
    await writeTfjsFolder(out, enc);
    const before = fs.readFileSync(path.join(out, 'model.json'), 'utf8');
    const variable = enc.weights[2].read();
    const spy = vi.spyOn(variable, 'data').mockRejectedValue(new Error('device lost'));
    await expect(writeTfjsFolder(out, enc, { shardBytes: 1000 })).rejects.toThrow(/cannot write ".*kept": device lost/);
    spy.mockRestore();
    expect(fs.readFileSync(path.join(out, 'model.json'), 'utf8')).toBe(before);
    expect(fs.readdirSync(out).sort()).toEqual(['model.json', 'weights.bin']);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
    await expect(writeTfjsFolder(out, enc, { shardBytes: 0 })).rejects.toThrow(/shardBytes must be a positive integer, got 0/);
    enc.dispose();
  });
});
