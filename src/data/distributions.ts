/**
 * Continuous distributions drawn from the seeded host {@link Rng}: the
 * standard normal (Box–Muller), gamma (Marsaglia–Tsang) and beta (ratio of
 * gammas), as the augmentations of the fine-tuning recipe need them (mixup's
 * `Beta(α, α)`, RandAugment's `N(m, σ²)` magnitude).
 */
import type { Rng } from './rng';

/** A standard normal draw (Box–Muller, two uniforms per draw). */
export function normalDraw(rng: Rng): number {
  const u1 = 1 - rng.uniform(); // (0, 1]: log is finite
  const u2 = rng.uniform();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** A `Gamma(shape, 1)` draw, `shape > 0` (Marsaglia–Tsang; shapes below 1 by `Gamma(shape + 1)·U^(1/shape)`). */
export function gammaDraw(rng: Rng, shape: number): number {
  if (shape < 1) return gammaDraw(rng, shape + 1) * Math.pow(1 - rng.uniform(), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = normalDraw(rng);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - rng.uniform();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** A `Beta(a, b)` draw in `[0, 1]`, `a, b > 0`, as `X / (X + Y)` of `X ~ Gamma(a)`, `Y ~ Gamma(b)`. */
export function betaDraw(rng: Rng, a: number, b: number): number {
  const x = gammaDraw(rng, a);
  const y = gammaDraw(rng, b);
  return x + y > 0 ? x / (x + y) : rng.uniform() < a / (a + b) ? 1 : 0;
}
