/**
 * `tfjs-mae pretrain` as a separate process: Ctrl-C saves and exits 130, a
 * `kill -9` at any moment leaves a loadable checkpoint, and `--resume auto`
 * finishes with the same weights as an uninterrupted run, byte for byte.
 */
import '@tensorflow/tfjs-backend-cpu';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main';
import { isAtomicTemp } from '../../src/node/atomicFile';
import { decodeCheckpoint } from '../../src/train/checkpoint';
import { writeImageFolder } from './imageFolder';

const ROOT = path.join(__dirname, '../..');
const TINY = JSON.stringify({ embedDim: 32, depth: 1, numHeads: 2, decoderEmbedDim: 16, decoderDepth: 1, decoderNumHeads: 2 });
let dir: string;
let data: string;
const args = (out: string) => ['pretrain', data, '--model', 'mae_vit_tiny_patch4', '--model-config', TINY, '--input-size', '16', '--batch-size', '2', '--backend', 'cpu', '--lr', '1e-3', '--epochs', '4', '--save-every', '1', '--output-dir', out];

function start(argv: string[]): { child: ChildProcess; exit: Promise<number | string>; output: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/bin.ts'), ...argv], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exit = new Promise<number | string>((done) => child.on('exit', (code, signal) => done(code ?? signal ?? -1)));
  return { child, exit, output: () => output };
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 90_000): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-mae-interrupt-'));
  data = path.join(dir, 'images');
  writeImageFolder(data, { classes: [], perClass: 8, size: 16 });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('pretrain interrupted', () => {
  it('Ctrl-C saves and exits 130; kill -9 leaves loadable checkpoints; --resume auto ends byte-identical', async () => {
    const full = path.join(dir, 'full');
    const reference = await main(args(full), { out: () => undefined, err: () => undefined });
    expect(reference).toBe(0);
    const part = path.join(dir, 'part');
    const has = (name: string) => fs.existsSync(path.join(part, name));

    // Ctrl-C during epoch 2.
    const first = start(args(part));
    await waitFor(() => has('checkpoint-0.safetensors'), 'the first checkpoint');
    first.child.kill('SIGINT');
    expect(await first.exit).toBe(130);
    expect(first.output()).toMatch(/interrupted at step \d+\/16; continue with --resume auto/);
    const saved = fs.readdirSync(part).filter((n) => n.startsWith('checkpoint-')).sort();
    expect(saved.length).toBeGreaterThanOrEqual(2); // checkpoint-0 and the one Ctrl-C wrote

    // kill -9 during epoch 3.
    const second = start([...args(part), '--resume', 'auto']);
    await waitFor(() => has('checkpoint-1.safetensors') && /epoch 3\/4 step/.test(second.output()), 'epoch 3');
    second.child.kill('SIGKILL');
    expect(await second.exit).toBe('SIGKILL');
    for (const name of fs.readdirSync(part).filter((n) => n.endsWith('.safetensors'))) {
      expect(() => decodeCheckpoint(new Uint8Array(fs.readFileSync(path.join(part, name))))).not.toThrow();
    }

    const r = await main([...args(part), '--resume', 'auto'], { out: () => undefined, err: () => undefined });
    expect(r).toBe(0);
    const a = fs.readFileSync(path.join(full, 'checkpoint-3.safetensors'));
    const b = fs.readFileSync(path.join(part, 'checkpoint-3.safetensors'));
    expect(b.equals(a)).toBe(true);
    expect(fs.readdirSync(part).filter(isAtomicTemp).length).toBeLessThanOrEqual(1); // at most the one a kill -9 interrupted
    const epochs = fs.readFileSync(path.join(part, 'log.txt'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).epoch);
    expect(epochs).toEqual([0, 1, 2, 3]);
  });
});
