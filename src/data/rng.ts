/**
 * A small seeded PRNG on the host (mulberry32, 32-bit state) and the seed
 * mixing used by the data pipeline. Pure integer arithmetic, so the streams
 * are identical on every platform and backend.
 */
import { MAEConfigError } from '../errors';

/** Checks that `seed` is an integer in `[0, 2^32)`. `name` is the argument name for the message. */
export function checkSeed(seed: unknown, name = 'seed'): number {
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new MAEConfigError(`${name}: expected an integer in [0, 2^32), got ${String(seed)}`);
  }
  return seed;
}

/** The murmur3 32-bit finaliser: a bijection on uint32 that spreads every input bit. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Mixes a seed with a stream number (an epoch, a salt) into a new uint32 seed,
 * so that streams for neighbouring numbers are unrelated.
 */
export function mixSeed(seed: number, stream: number): number {
  const a = fmix32((seed ^ 0x9e3779b9) >>> 0);
  return fmix32((a + Math.imul(stream >>> 0, 0x632be5ab) + 0x7f4a7c15) >>> 0);
}

/** A seeded uint32 generator. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** The next uint32 (mulberry32 step). */
  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A uniform float in `[0, 1)` with 32 random bits. */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  /** A uniform float in `[lo, hi)`. */
  uniformIn(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** An unbiased uniform integer in `[0, m)` for `1 ≤ m ≤ 2^32` (rejection sampling). */
  below(m: number): number {
    const limit = Math.floor(4294967296 / m) * m;
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % m;
    }
  }
}

/**
 * A uniformly random permutation of `0 … n−1` (Fisher–Yates, swapping from the
 * end, with `Rng(seed)`): a pure function of `(n, seed)`.
 *
 * @param n The number of elements, an integer in `[0, 2^31)`.
 * @param seed An integer in `[0, 2^32)`.
 * @returns An `Int32Array` of length `n`.
 */
export function permutation(n: number, seed: number): Int32Array {
  if (!Number.isSafeInteger(n) || n < 0 || n > 0x7fffffff) {
    throw new MAEConfigError(`n: expected an integer in [0, 2^31), got ${String(n)}`);
  }
  checkSeed(seed);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  const rng = new Rng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    const t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
  return out;
}
