/**
 * `tfjs-mae convert` and the model config: outputs carry it, conversions
 * keep every metadata key, and `--to tfjs` builds the model the file stores
 * (issue 13.1: the example weights used to come out with 1 and 16 heads).
 */
import '@tensorflow/tfjs-backend-cpu';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main';
import { MaskedAutoencoder, loadModel, modelConfigOf, nodeFolderHandler, parseSafetensors, readStoredConfig } from '../../src';
import { FIXTURES_DIR } from '../helpers/fixtures';

const EXAMPLE = path.join(FIXTURES_DIR, '..', '..', 'examples', 'weights', 'mae-fmnist-tiny.safetensors');
const fixture = (name: string): string => path.join(FIXTURES_DIR, name);
const metadataOf = (file: string): Record<string, string> => parseSafetensors(new Uint8Array(fs.readFileSync(file))).metadata;

async function run(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(...l.split('\n')), err: (l) => err.push(...l.split('\n')) });
  return { code, out, err };
}

/** The loss of `model` on a fixed batch (seeded images and mask noise). */
async function fixedLoss(model: MaskedAutoencoder): Promise<number> {
  const imgs = tf.randomNormal([4, 28, 28, 1], 0, 1, 'float32', 1);
  const noise = tf.randomUniform([4, 49], 0, 1, 'float32', 2);
  const loss = model.loss(imgs, { noise });
  const value = (await loss.data())[0];
  tf.dispose([imgs, noise, loss]);
  return value;
}

let dir: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-mae-convert-config-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('convert --to tfjs honours the stored config', () => {
  it('the example weights keep 4 heads and 4 decoder heads without flags, the same loss, and their recipe', async () => {
    const outDir = path.join(dir, 'example-tfjs');
    const r = await run('convert', EXAMPLE, outDir, '--to', 'tfjs');
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('config: MaskedAutoencoder from the file');
    expect(r.out.at(-1)).toMatch(/MaskedAutoencoder \(embedDim 64, depth 2, 4 heads, decoder 32 wide, 4 heads\)/);
    const converted = await loadModel<MaskedAutoencoder>(nodeFolderHandler(outDir));
    expect(converted.config).toMatchObject({ numHeads: 4, decoderNumHeads: 4 });
    const original = await MaskedAutoencoder.fromPretrained(EXAMPLE);
    const [a, b] = [await fixedLoss(original), await fixedLoss(converted)];
    expect(b).toBe(a);
    expect(a).toBeLessThan(1.2); // a trained model; the 1-head/16-head misbuild is far off
    const json = JSON.parse(fs.readFileSync(path.join(outDir, 'model.json'), 'utf8'));
    expect(json.userDefinedMetadata.recipe).toBe(metadataOf(EXAMPLE).recipe);
    expect(JSON.parse(json.userDefinedMetadata.config)).toEqual(modelConfigOf(original));
    original.dispose();
    converted.dispose();
  });

  it('a flag that contradicts the stored config is an error naming the file and the flag', async () => {
    const r = await run('convert', EXAMPLE, path.join(dir, 'x'), '--to', 'tfjs', '--heads', '8');
    expect(r.code).toBe(1);
    expect(r.err[0]).toMatch(/mae-fmnist-tiny\.safetensors: numHeads 8 \(--heads N\) contradicts the config stored in the file \(numHeads 4\)/);
  });

  it('a .pth of non-preset widths without flags fails, naming the file, the field and the flag', async () => {
    const r = await run('convert', fixture('mae_tiny.pth'), path.join(dir, 'y'), '--to', 'tfjs');
    expect(r.code).toBe(1);
    expect(r.err[0]).toMatch(/^tfjs-mae: .*mae_tiny\.pth: cannot infer numHeads: the encoder is 64 wide.*\(--heads N\)$/);
    expect(fs.existsSync(path.join(dir, 'y'))).toBe(false);
  });
});

describe('inspect shows the model config and the metadata', () => {
  it('stored, inferred, or what is missing', async () => {
    const stored = await run('inspect', EXAMPLE);
    expect(stored.code).toBe(0);
    expect(stored.out[1]).toMatch(/^model: MaskedAutoencoder \(stored in the file\) \{"imgSize":28,.*"numHeads":4,.*"decoderNumHeads":4/);
    expect(stored.out).toContain(`metadata: recipe = ${metadataOf(EXAMPLE).recipe}`);
    expect(stored.out).toContain('metadata: format = pt');
    const pth = await run('inspect', fixture('mae_tiny.pth'));
    expect(pth.out[1]).toMatch(/^model: not decided without flags \(.*cannot infer numHeads: the encoder is 64 wide.*\(convert --heads N\)\)$/);
  });
});

describe('convert to safetensors keeps every metadata key and embeds the config', () => {
  it('safetensors → hf → official: config and recipe survive, tensors bit for bit', async () => {
    const hf = path.join(dir, 'example.hf.safetensors');
    const back = path.join(dir, 'example.back.safetensors');
    expect((await run('convert', EXAMPLE, hf, '--to', 'hf')).code).toBe(0);
    expect((await run('convert', hf, back, '--to', 'official')).code).toBe(0);
    const source = metadataOf(EXAMPLE);
    for (const file of [hf, back]) {
      const meta = metadataOf(file);
      expect(meta.config).toBe(source.config);
      expect(meta.recipe).toBe(source.recipe);
      expect(meta.format).toBe('pt');
    }
    expect(metadataOf(hf).naming).toBe('hf');
    const a = parseSafetensors(new Uint8Array(fs.readFileSync(EXAMPLE))).tensors;
    const b = parseSafetensors(new Uint8Array(fs.readFileSync(back))).tensors;
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [name, t] of a) expect(Array.from(b.get(name)!.data)).toEqual(Array.from(t.data));
    // the HF-named copy rebuilds the same model without flags
    const fromHf = await MaskedAutoencoder.fromPretrained(hf);
    expect(fromHf.config).toMatchObject({ numHeads: 4, decoderNumHeads: 4 });
    fromHf.dispose();
  });

  it('a .pth gets the config its shapes and flags imply; without the flags it says which are missing', async () => {
    const bare = path.join(dir, 'bare.safetensors');
    const r1 = await run('convert', fixture('mae_tiny.pth'), bare);
    expect(r1.code).toBe(0);
    expect(r1.out.join('\n')).toMatch(/note: no model config embedded \(.*cannot infer numHeads.*--heads N\)/);
    expect(metadataOf(bare).config).toBeUndefined();
    const withConfig = path.join(dir, 'with-config.safetensors');
    const r2 = await run('convert', fixture('mae_tiny.pth'), withConfig, '--heads', '4', '--decoder-heads', '4', '--to', 'hf');
    expect(r2.code).toBe(0);
    expect(r2.out).toContain('config: MaskedAutoencoder from names and shapes, embedded');
    expect(readStoredConfig(metadataOf(withConfig))?.config).toMatchObject({ numHeads: 4, decoderNumHeads: 4, embedDim: 64, decoderEmbedDim: 32 });
    // ... and that file converts to tfjs without flags
    const r3 = await run('convert', withConfig, path.join(dir, 'pth-tfjs'), '--to', 'tfjs');
    expect(r3.err).toEqual([]);
    expect(r3.out.at(-1)).toMatch(/4 heads, decoder 32 wide, 4 heads/);
  });
});
