/**
 * `tfjs-mae/testing`: what a user needs to unit-test components built on
 * tfjs-mae (and what our own tests use): a backend matrix, tolerance checks
 * that name the worst element, leak checks and a fixture reader.
 *
 * Nothing here imports a backend: register the ones you test
 * (`import '@tensorflow/tfjs-backend-wasm'`) in your test file. Nothing here
 * imports a test runner either: the checks throw plain `Error`s, which every
 * runner reports as failures.
 *
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';
import { readSafetensors } from '../io/safetensors';

/** Values to compare: a tensor, a (nested) array or typed array of numbers, or a number. */
export type Numeric = tf.Tensor | ArrayLike<number> | NestedNumbers | number;

/** A nested array of numbers (`[[1, 2], [3, 4]]`). */
export interface NestedNumbers extends ReadonlyArray<number | NestedNumbers> {}

/** Tolerances of {@link expectTensorsClose}: passes when `|a − e| ≤ atol + rtol·|e|` everywhere. */
export interface CloseOptions {
  /** Absolute tolerance. Defaults to `1e-5`. */
  atol?: number;
  /** Relative tolerance. Defaults to `0`. */
  rtol?: number;
  /** A name for the message. Defaults to `'tensor'`. */
  name?: string;
}

interface Values {
  data: ArrayLike<number>;
  /** `undefined` for a flat array-like: only its length is known. */
  shape?: number[];
}

function nestedShape(x: NestedNumbers): number[] {
  const shape: number[] = [];
  let level: unknown = x;
  while (Array.isArray(level)) {
    shape.push(level.length);
    level = level[0];
  }
  return shape;
}

async function values(x: Numeric): Promise<Values> {
  if (x instanceof tf.Tensor) return { data: (await x.data()) as ArrayLike<number>, shape: [...x.shape] };
  if (typeof x === 'number') return { data: [x], shape: [] };
  if (Array.isArray(x) && x.some((e) => Array.isArray(e))) {
    const shape = nestedShape(x as NestedNumbers);
    const data = (x as unknown[]).flat(Infinity) as number[];
    if (data.length !== shape.reduce((a, b) => a * b, 1)) throw new Error(`ragged nested array: cannot compare it as shape [${shape}]`);
    return { data, shape };
  }
  return { data: x as ArrayLike<number> };
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
 * Asserts `actual ≈ expected` elementwise: `|a − e| ≤ atol + rtol·|e|`
 * (NaN never passes). On failure the error names the worst element (the one
 * that exceeds its tolerance most), its index, both values, the difference,
 * how many elements fail and the largest difference:
 *
 * `pred: element [0, 3, 7] is 0.51, expected 0.5 (|diff| 0.01 > atol 1e-5 + rtol 0·|expected|); 4 of 96 elements fail; max |diff| 0.01`
 *
 * Shapes must match when both sides have one (tensors, nested arrays,
 * numbers); a flat array is compared by length. Reads with `await data()`,
 * so it is safe on webgpu. Disposes nothing.
 */
export async function expectTensorsClose(actual: Numeric, expected: Numeric, options: CloseOptions = {}): Promise<void> {
  const atol = options.atol ?? 1e-5;
  const rtol = options.rtol ?? 0;
  const name = options.name ?? 'tensor';
  const a = await values(actual);
  const e = await values(expected);
  if (a.shape && e.shape && !tf.util.arraysEqual(a.shape, e.shape) && !(a.data.length === 1 && e.data.length === 1)) {
    throw new Error(`${name}: shape [${a.shape}] differs from expected [${e.shape}]`);
  }
  if (a.data.length !== e.data.length) {
    throw new Error(`${name}: ${a.data.length} elements, expected ${e.data.length}`);
  }
  let worst = -1;
  let worstExcess = 0;
  let maxDiff = 0;
  let failing = 0;
  for (let i = 0; i < a.data.length; i++) {
    const diff = Math.abs(a.data[i] - e.data[i]);
    const excess = Number.isNaN(diff) ? Infinity : diff - (atol + rtol * Math.abs(e.data[i]));
    if (!Number.isNaN(diff)) maxDiff = Math.max(maxDiff, diff);
    if (excess > 0) {
      failing++;
      if (worst < 0 || excess > worstExcess) {
        worst = i;
        worstExcess = excess;
      }
    }
  }
  if (worst >= 0) {
    const shape = a.shape ?? e.shape ?? [a.data.length];
    const index = shape.length ? unravel(worst, shape) : [];
    throw new Error(
      `${name}: element [${index.join(', ')}] is ${a.data[worst]}, expected ${e.data[worst]} ` +
        `(|diff| ${Math.abs(a.data[worst] - e.data[worst])} > atol ${atol} + rtol ${rtol}·|expected|); ` +
        `${failing} of ${a.data.length} elements fail; max |diff| ${maxDiff}`,
    );
  }
}

/** {@link expectTensorsClose} with `atol = rtol = 0`: exact equality (ids, masks, patchify). */
export async function expectTensorsEqual(actual: Numeric, expected: Numeric, name = 'tensor'): Promise<void> {
  return expectTensorsClose(actual, expected, { atol: 0, rtol: 0, name });
}

/** The largest `|actual − expected|` (for reporting measured errors); NaN if any difference is NaN. */
export async function maxAbsDiff(actual: Numeric, expected: Numeric): Promise<number> {
  const a = await values(actual);
  const e = await values(expected);
  if (a.data.length !== e.data.length) throw new Error(`maxAbsDiff: ${a.data.length} elements vs ${e.data.length}`);
  let m = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i] - e.data[i]);
    if (Number.isNaN(d)) return NaN;
    m = Math.max(m, d);
  }
  return m;
}

/** Options of {@link expectNoLeaks}. */
export interface NoLeaksOptions {
  /** Names the operation in the error. Defaults to `'operation'`. */
  name?: string;
  /**
   * Calls of `fn` made first, not counted: the tensors they leave are state
   * created once and kept on purpose. The typical case is an optimiser's
   * first step, which creates its moment estimates (`tf.train.adam`: two per
   * trained variable; 72 for a small MAE). Defaults to 0.
   */
  warmup?: number;
}

/**
 * Runs `fn` (sync or async) and asserts that `tf.memory().numTensors` is
 * unchanged afterwards, whether `fn` returns or throws. Returns what `fn`
 * returned. If `fn` throws without leaking, its error is rethrown as is; if
 * it throws and leaks, the leak error names both (the original is its
 * `cause`). Tensors `fn` returns count as leaks unless `fn` disposes them:
 * return plain values.
 *
 * An optimiser step creates state at its first call only; check the steps
 * after it with `warmup`:
 *
 * ```ts
 * const opt = tf.train.adam(1e-3);
 * await expectNoLeaks(() => opt.minimize(() => mae.loss(imgs), false), { warmup: 1 });
 * ```
 *
 * @param options the operation's name (a string), or {@link NoLeaksOptions}
 */
export async function expectNoLeaks<T>(fn: () => T | Promise<T>, options: string | NoLeaksOptions = {}): Promise<T> {
  const { name = 'operation', warmup = 0 } = typeof options === 'string' ? { name: options } : options;
  if (!Number.isSafeInteger(warmup) || warmup < 0) throw new Error(`expectNoLeaks warmup: expected an integer >= 0, got ${String(warmup)}`);
  for (let i = 0; i < warmup; i++) await fn();
  const before = tf.memory().numTensors;
  let result: T;
  try {
    result = await fn();
  } catch (err) {
    const after = tf.memory().numTensors;
    if (after !== before) {
      const why = err instanceof Error ? err.message : String(err);
      const leak = new Error(`${name} leaked ${after - before} tensor(s) when it threw (numTensors ${before} → ${after}); it threw: ${why}`);
      (leak as Error & { cause?: unknown }).cause = err;
      throw leak;
    }
    throw err;
  }
  const after = tf.memory().numTensors;
  if (after !== before) throw new Error(`${name} leaked ${after - before} tensor(s): numTensors ${before} → ${after}`);
  return result;
}

/** The test-runner functions {@link describeBackends} needs (vitest, jest and mocha have them). */
export interface Runner {
  /** Declares a suite: `describe(name, body)`. */
  describe: (name: string, body: () => void) => void;
  /** Registers a hook that runs once before the suite's tests. */
  beforeAll: (fn: () => unknown) => void;
}

/**
 * Declares the same suite once per backend; each suite switches to its
 * backend (and awaits `tf.ready()`) before its tests run. Suite titles carry
 * the backend: `backend [wasm]`. Register the backends in the test file
 * first; an unregistered or failing backend fails its suite with a message
 * that lists the registered ones.
 *
 * `runner` defaults to the global `describe` / `beforeAll` (jest, mocha,
 * vitest with `globals: true`); pass them explicitly otherwise.
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
        const registered = Object.keys(tf.engine().registryFactory);
        if (!registered.includes(backend)) {
          throw new Error(`backend ${backend} is not registered (registered: ${registered.join(', ') || 'none'}); import ${backendPackage(backend)} in the test file`);
        }
        const ok = await tf.setBackend(backend);
        if (!ok || tf.getBackend() !== backend) throw new Error(`backend ${backend} did not initialise (tf.getBackend() is ${tf.getBackend()})`);
        await tf.ready();
      });
      body(backend);
    });
  }
}

/** The package that registers a backend, quoted for a message: `'tensorflow'` is tfjs-node's (native TensorFlow). */
function backendPackage(backend: string): string {
  if (backend === 'tensorflow') return `'@tensorflow/tfjs-node' (or '@tensorflow/tfjs-node-gpu')`;
  return `'@tensorflow/tfjs-backend-${backend}'`;
}

/** `process.versions.node` without Node typings: `undefined` in browsers. */
function nodeVersion(): string | undefined {
  return (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node;
}

/**
 * Reads a safetensors fixture into tf tensors (the caller disposes them).
 * Takes the bytes, or a location: a file path in Node, a URL (fetched) in
 * browsers and for `http(s):` locations in Node 18+.
 */
export async function readFixture(source: string | URL | Uint8Array | ArrayBuffer): Promise<Record<string, tf.Tensor>> {
  if (source instanceof Uint8Array) return readSafetensors(source);
  if (source instanceof ArrayBuffer) return readSafetensors(new Uint8Array(source));
  const href = String(source);
  if (nodeVersion() !== undefined && !/^https?:/.test(href)) {
    // A computed specifier: bundlers for the browser leave it alone.
    const fsModule = 'node:fs/promises';
    const fs = (await import(/* @vite-ignore */ fsModule)) as { readFile: (p: string | URL) => Promise<Uint8Array> };
    return readSafetensors(new Uint8Array(await fs.readFile(source instanceof URL ? source : href)));
  }
  const res = await fetch(href);
  if (!res.ok) throw new Error(`readFixture: GET ${href} failed with HTTP ${res.status}`);
  return readSafetensors(new Uint8Array(await res.arrayBuffer()));
}
