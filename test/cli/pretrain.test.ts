/**
 * `tfjs-mae pretrain` on a tiny generated folder: log.txt, checkpoints with
 * config and optimiser state, figures; resume continues bit-exactly.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSafetensors } from '../../src/io/safetensors';
import { decodeCheckpoint } from '../../src/train/checkpoint';
import { writeImageFolder } from '../helpers/labelledFolder';
import { run } from './run';

const TINY = JSON.stringify({ embedDim: 32, depth: 1, numHeads: 2, decoderEmbedDim: 16, decoderDepth: 1, decoderNumHeads: 2 });
let dir: string;
let data: string;
const common = () => ['pretrain', data, '--model', 'mae_vit_tiny_patch4', '--model-config', TINY, '--input-size', '16', '--batch-size', '4', '--backend', 'cpu', '--lr', '1e-3'];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-mae-pretrain-'));
  data = path.join(dir, 'images');
  writeImageFolder(data, { perClass: 4, size: 20 });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('tfjs-mae pretrain', () => {
  it('writes log.txt, checkpoints (weights + optimiser + config), figures; prints the lr rule', async () => {
    const out = path.join(dir, 'run1');
    const r = await run(...common(), '--epochs', '2', '--save-every', '1', '--output-dir', out, '--norm-pix-loss');
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out.some((l) => /^lr 0\.001 \(--lr; the official rule blr × batch × accum \/ 256 would give 2\.344e-6\)$/.test(l))).toBe(true);
    expect(r.out.some((l) => /\[pretrain\] epoch 1\/2 step +1\/4 loss \d\.\d{4} lr \S+ \d+ img\/s eta/.test(l))).toBe(true);
    const files = fs.readdirSync(out).sort();
    expect(files).toEqual(['checkpoint-0.safetensors', 'checkpoint-1.safetensors', 'log.txt', 'loss.png', 'reconstruction-0.png', 'reconstruction-1.png']);
    const log = fs.readFileSync(path.join(out, 'log.txt'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(log.map((l) => l.epoch)).toEqual([0, 1]);
    for (const l of log) expect(Object.keys(l)).toEqual(expect.arrayContaining(['train_loss', 'train_lr', 'lr', 'epoch']));
    const bytes = new Uint8Array(fs.readFileSync(path.join(out, 'checkpoint-1.safetensors')));
    const ckpt = decodeCheckpoint(bytes);
    expect(ckpt).toMatchObject({ step: 4, epoch: 2, seed: 0, stepsPerEpoch: 2 }); // 8 images, batch 4
    expect(Object.keys(ckpt.optimizer.params)).toContain('blocks.0.attn.qkv.weight');
    const meta = parseSafetensors(ckpt.weights).metadata;
    const config = JSON.parse(meta.config);
    expect(config.className).toBe('MaskedAutoencoder');
    expect(config.config).toMatchObject({ imgSize: [16, 16], patchSize: 4, inChans: 3, embedDim: 32, depth: 1, normPixLoss: true });
    expect(JSON.parse(meta.recipe)).toMatchObject({ model: 'mae_vit_tiny_patch4', batchSize: 4, epochs: 2, lr: 0.001 });
  });

  it('convert turns a checkpoint into its model weights: no optimiser state', async () => {
    const converted = path.join(dir, 'converted.safetensors');
    const r = await run('convert', path.join(dir, 'run1', 'checkpoint-1.safetensors'), converted);
    expect(r.code).toBe(0);
    const names = [...parseSafetensors(new Uint8Array(fs.readFileSync(converted))).tensors.keys()];
    expect(names).toContain('blocks.0.attn.qkv.weight');
    expect(names.filter((n) => n.startsWith('optimizer.'))).toEqual([]);
  });

  it('a run stopped after epoch 1 and resumed with --resume auto ends with the same weights as an uninterrupted one', async () => {
    const full = path.join(dir, 'full');
    expect((await run(...common(), '--epochs', '3', '--save-every', '1', '--output-dir', full)).code).toBe(0);
    const part = path.join(dir, 'part');
    expect((await run(...common(), '--epochs', '3', '--save-every', '1', '--output-dir', part)).code).toBe(0);
    // As if killed during epoch 2: drop the later checkpoints.
    fs.rmSync(path.join(part, 'checkpoint-1.safetensors'));
    fs.rmSync(path.join(part, 'checkpoint-2.safetensors'));
    const r = await run('pretrain', data, '--resume', 'auto', '--output-dir', part, '--backend', 'cpu');
    expect(r.err).toEqual([]);
    expect(r.out[0]).toBe(`resuming from ${path.join(part, 'checkpoint-0.safetensors')}`);
    const a = fs.readFileSync(path.join(full, 'checkpoint-2.safetensors'));
    const b = fs.readFileSync(path.join(part, 'checkpoint-2.safetensors'));
    expect(b.equals(a)).toBe(true);
    const log = fs.readFileSync(path.join(part, 'log.txt'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).epoch);
    expect(log).toEqual([0, 1, 2]);
  });

  it('refuses to resume into another architecture, and says why', async () => {
    const r = await run('pretrain', data, '--resume', 'auto', '--output-dir', path.join(dir, 'run1'), '--input-size', '32', '--backend', 'cpu');
    expect(r.code).toBe(2);
    expect(r.err[0]).toMatch(/^tfjs-mae: --input-size 32 contradicts .*checkpoint-1\.safetensors, trained with 16; drop the flag to continue that model$/);
  });

  it('an --input-size that does not split into patches is named as the flag, with the sizes that do', async () => {
    const a = await run('pretrain', data, '--model', 'mae_vit_tiny_patch4', '--input-size', '30', '--backend', 'cpu', '--output-dir', path.join(dir, 'bad-size'));
    expect(a.code).toBe(2);
    expect(a.err).toEqual(['tfjs-mae: --input-size 30: expected a multiple of the patch size 4 (of mae_vit_tiny_patch4), e.g. 28 or 32']);
    const b = await run('pretrain', data, '--model-config', '{"patchSize":8}', '--input-size', '6', '--backend', 'cpu', '--output-dir', path.join(dir, 'bad-size'));
    expect(b.err).toEqual(['tfjs-mae: --input-size 6: expected a multiple of the patch size 8 (of --model-config), e.g. 8']);
  });

  it('--help lists every official flag with its default', async () => {
    const r = await run('pretrain', '--help');
    const text = r.out.join('\n');
    for (const f of ['--model', '--input-size', '--in-chans', '--mask-ratio', '--norm-pix-loss', '--epochs', '--warmup-epochs', '--blr', '--lr', '--batch-size', '--accum-iter', '--weight-decay', '--seed', '--output-dir', '--save-every', '--resume', '--backend']) {
      expect(text).toContain(f);
    }
    expect(text).toContain('(default: 0.75)');
    expect(text).toContain('(default: 1.5e-4)'.replace('1.5e-4', String(1.5e-4)));
  });
});
