/**
 * `tfjs-mae/testing`: what a user needs to unit-test components built on
 * tfjs-mae (and what our own tests use): a backend matrix, tolerance checks
 * that name the worst element, leak checks and a fixture reader.
 *
 * Nothing here imports a backend: register the ones you test
 * (`import '@tensorflow/tfjs-backend-wasm'`) in your test file.
 */
import * as tf from '@tensorflow/tfjs-core';
import { readSafetensors } from '../io/safetensors';

type Numeric = tf.Tensor | ArrayLike<number> | number;

/** Tolerances of {@link expectTensorsClose}: passes when `|a − e| ≤ atol + rtol·|e|` everywhere. */
export interface CloseOptions {
  /** Absolute tolerance. Defaults to `1e-5`. */
  atol?: number;
  /** Relative tolerance. Defaults to `0`. */
  rtol?: number;
  /** A name for the message. Defaults to `'tensor'`. */
  name?: string;
}

async function values(x: Numeric): Promise<{ data: ArrayLike<number>; shape: number[] }> {
  if (x instanceof tf.Tensor) return { data: (await x.data()) as ArrayLike<number>, shape: [...x.shape] };
  if (typeof x === 'number') return { data: [x], shape: [] };
  return { data: x, shape: [x.length] };
}

function unravel(index: number, shape: number[]): number[] {
  const out: number[] = [];
  for (let i = shape.length - 1; i >= 0; i--) {
    out.unshift(index % shape[i]);
    index = Math.floor(index / shape[i]);
  }
  return out;
}

/**
 * Asserts `actual ≈ expected` elementwise; the error names the worst element,
 * its index, both values and the difference. Reads with `await data()`, so it
 * is safe on webgpu. Shapes must match when both are tensors.
 */
export async function expectTensorsClose(actual: Numeric, expected: Numeric, options: CloseOptions = {}): Promise<void> {
  const atol = options.atol ?? 1e-5;
  const rtol = options.rtol ?? 0;
  const name = options.name ?? 'tensor';
  const a = await values(actual);
  const e = await values(expected);
  if (actual instanceof tf.Tensor && expected instanceof tf.Tensor && !tf.util.arraysEqual(a.shape, e.shape)) {
    throw new Error(`${name}: shape [${a.shape}] differs from expected [${e.shape}]`);
  }
  if (a.data.length !== e.data.length) {
    throw new Error(`${name}: ${a.data.length} elements, expected ${e.data.length}`);
  }
  let worst = -1;
  let worstExcess = 0;
  let maxDiff = 0;
  for (let i = 0; i < a.data.length; i++) {
    const diff = Math.abs(a.data[i] - e.data[i]);
    const excess = Number.isNaN(diff) ? Infinity : diff - (atol + rtol * Math.abs(e.data[i]));
    if (!Number.isNaN(diff)) maxDiff = Math.max(maxDiff, diff);
    if (excess > worstExcess || (Number.isNaN(diff) && worst < 0)) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    const shape = a.shape.length ? a.shape : e.shape;
    throw new Error(
      `${name}: element [${unravel(worst, shape)}] is ${a.data[worst]}, expected ${e.data[worst]} ` +
        `(|diff| ${Math.abs(a.data[worst] - e.data[worst])} > atol ${atol} + rtol ${rtol}·|expected|; max |diff| ${maxDiff})`,
    );
  }
}

/** The largest `|actual − expected|` (for reporting measured errors). */
export async function maxAbsDiff(actual: Numeric, expected: Numeric): Promise<number> {
  const a = await values(actual);
  const e = await values(expected);
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(a.data[i] - e.data[i]));
  return m;
}

/**
 * Runs `fn` and asserts that `tf.memory().numTensors` is unchanged afterwards
 * (whether `fn` returns or throws). Returns what `fn` returned, or rethrows.
 * Tensors `fn` returns count as leaks unless `fn` disposes them: return plain values.
 */
export async function expectNoLeaks<T>(fn: () => T | Promise<T>, name = 'operation'): Promise<T> {
  const before = tf.memory().numTensors;
  let result: T;
  try {
    result = await fn();
  } finally {
    const after = tf.memory().numTensors;
    if (after !== before) {
      // eslint-disable-next-line no-unsafe-finally
      throw new Error(`${name} leaked ${after - before} tensor(s): numTensors ${before} → ${after}`);
    }
  }
  return result;
}

/** The test-runner functions {@link describeBackends} needs (vitest, jest and mocha have them). */
export interface Runner {
  describe: (name: string, body: () => void) => void;
  beforeAll: (fn: () => unknown) => void;
}

/**
 * Declares the same suite once per backend; each suite switches to its
 * backend before its tests run. Titles carry the backend: `name [wasm]`.
 * Register the backends in the test file first.
 *
 * @example
 * ```ts
 * import '@tensorflow/tfjs-backend-cpu';
 * import '@tensorflow/tfjs-backend-wasm';
 * import { describe, beforeAll, it } from 'vitest';
 * describeBackends(['cpu', 'wasm'], (backend) => {
 *   it(`adds [${backend}]`, async () => { ... });
 * }, { describe, beforeAll });
 * ```
 */
export function describeBackends(backends: string[], body: (backend: string) => void, runner?: Runner, name = 'backend'): void {
  const g = globalThis as unknown as Partial<Runner>;
  const describe = runner?.describe ?? g.describe;
  const beforeAll = runner?.beforeAll ?? g.beforeAll;
  if (!describe || !beforeAll) {
    throw new Error('describeBackends needs describe/beforeAll: pass { describe, beforeAll } from your test runner');
  }
  for (const backend of backends) {
    describe(`${name} [${backend}]`, () => {
      beforeAll(async () => {
        const ok = await tf.setBackend(backend);
        if (!ok || tf.getBackend() !== backend) throw new Error(`backend ${backend} did not initialise (is it imported?)`);
        await tf.ready();
      });
      body(backend);
    });
  }
}

/**
 * Reads a safetensors fixture into tf tensors (the caller disposes them).
 * Takes bytes, or a file path in Node.
 */
export async function readFixture(source: string | Uint8Array): Promise<Record<string, tf.Tensor>> {
  if (typeof source !== 'string') return readSafetensors(source);
  const fs = await import('node:fs/promises');
  return readSafetensors(new Uint8Array(await fs.readFile(source)));
}
