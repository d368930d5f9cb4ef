import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as wasm from '@tensorflow/tfjs-backend-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import { MAEConfigError } from '../../src';
import { logicalCores, useWasmThreads } from '../../src/node/wasmThreads';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('useWasmThreads', () => {
  afterAll(() => {
    if (tf.findBackendFactory('wasm') != null) tf.removeBackend('wasm');
  });

  it('a process that computes on 2 threads exits by itself', () => {
    const child = spawnSync(process.execPath, ['--import', 'tsx', 'test/node/threadsChild.ts'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 90_000,
    });
    expect(child.error, 'the child process did not exit within 90 s (worker threads kept it alive?)').toBeUndefined();
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    const threads = Math.min(2, logicalCores());
    expect(JSON.parse(child.stdout)).toEqual({ threads, requested: threads, backend: 'wasm', finite: true });
  });

  it('falls back to one thread with a one-line warning when threads cannot start', async () => {
    const warnings: string[] = [];
    class Failing {
      constructor() {
        throw new Error('simulated: no threads here');
      }
    }
    const setup = await useWasmThreads(2, { backendModule: { ...wasm, BackendWasm: Failing }, warn: (m) => warnings.push(m) });
    expect(setup).toEqual({ threads: 1, requested: 2, fallbackReason: 'simulated: no threads here' });
    expect(warnings).toEqual(['useWasmThreads: running wasm on 1 thread instead of 2: simulated: no threads here']);
    expect(tf.getBackend()).toBe('wasm');
    expect(wasm.getThreadsCount()).toBe(1);
    const [a, b] = [tf.scalar(1), tf.scalar(2)];
    const sum = tf.add(a, b);
    expect(Array.from(await sum.data())).toEqual([3]);
    tf.dispose([a, b, sum]);
  });

  it('refuses to rebuild a wasm backend that holds tensors (they would be lost), naming the count; goes ahead once they are disposed', async () => {
    await useWasmThreads(1);
    const weights = [tf.zeros([4, 4]), tf.ones([4])];
    await expect(useWasmThreads(1)).rejects.toThrow(MAEConfigError);
    await expect(useWasmThreads(2)).rejects.toThrow(/useWasmThreads: the wasm backend already holds 2 tensors .*call useWasmThreads before building or loading a model/);
    expect(Array.from(await weights[1].data())).toEqual([1, 1, 1, 1]); // still usable
    tf.dispose(weights);
    expect((await useWasmThreads(1)).threads).toBe(1);
  });

  it('1 thread is the package’s own backend, without workers or warnings', async () => {
    const warnings: string[] = [];
    expect(await useWasmThreads(1, { warn: (m) => warnings.push(m) })).toEqual({ threads: 1, requested: 1, fallbackReason: undefined });
    expect(warnings).toEqual([]);
    expect(wasm.getThreadsCount()).toBe(1);
  });

  it('clamps the count to the logical cores, saying so in one line', async () => {
    const warnings: string[] = [];
    const setup = await useWasmThreads(logicalCores() + 3, { warn: (m) => warnings.push(m) });
    const used = Math.min(logicalCores(), 8);
    expect(setup.requested).toBe(used);
    expect(warnings).toEqual([`useWasmThreads: ${logicalCores() + 3} threads asked, using ${used} (the machine's logical cores, at most 8)`]);
  });

  it('rejects a count that is not a positive integer, naming it', async () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      await expect(useWasmThreads(bad)).rejects.toThrow(MAEConfigError);
    }
    await expect(useWasmThreads(0)).rejects.toThrow('threads must be an integer ≥ 1, got 0');
  });

  it('rejects a backendModule that is not tfjs-backend-wasm', async () => {
    await expect(useWasmThreads(2, { backendModule: {} })).rejects.toThrow('options.backendModule must be the @tensorflow/tfjs-backend-wasm module');
  });
});
