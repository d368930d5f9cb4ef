/**
 * Recomputation (activation checkpointing): a function whose backward pass
 * keeps only its input and recomputes its inside.
 *
 * tfjs keeps every tensor the tape saved, and every intermediate gradient,
 * until the whole backward pass ends (docs/benchmarks.md, "Memory"). Run as
 * one {@link recomputed} op, a transformer block leaves one tensor on the
 * tape (its input) instead of every activation; its backward runs the block
 * again under its own gradient tape and frees that tape's tensors as soon as
 * it has the block's gradients. The price is one more forward pass of the
 * block per step.
 *
 * tfjs has no checkpoint op, and it does not expect a gradient to be taken
 * inside a backward pass: a `gradients()` call that ends at depth 0 drops the
 * engine's active tape, which the enclosing backward pass still needs to
 * dispose its saved tensors. The only reliance on tfjs internals is here:
 * the tape is put back after the nested call (`withOuterTape`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { MAEError } from '../errors';

type Saver = (tensors: tf.Tensor[]) => void;
type GradFunc = Parameters<typeof tf.customGrad>[0];
type EngineState = ReturnType<typeof tf.engine>['state'];

/**
 * The function {@link recomputed} runs: `x` → output, reading `consts`
 * (tensors without a gradient, e.g. int32 row ids) and any variables.
 * `replay` is `false` in the forward pass and `true` when it runs again in
 * the backward pass (side outputs such as attention maps belong to the first
 * run only). It must compute the same value both times: seed its randomness.
 */
export type RecomputedFn = (x: tf.Tensor, consts: tf.Tensor[], replay: boolean) => tf.Tensor;

/**
 * `f(x)` as one taped op that saves only `x` and `consts`; its gradient runs
 * `f` again and backpropagates through it, to `x` and to every tensor of
 * `weights`.
 *
 * @param f the computation, see {@link RecomputedFn}
 * @param x its differentiable input
 * @param consts tensors `f` reads without a gradient (kept for the backward pass, so the caller may dispose its own)
 * @param weights every variable `f` reads whose gradient is wanted (gradients reach no other)
 * @returns `f(x, consts, false)`
 */
export function recomputed(f: RecomputedFn, x: tf.Tensor, consts: tf.Tensor[], weights: tf.Variable[]): tf.Tensor {
  // inputs (x, ...weights), then tfjs' save function
  const op = tf.customGrad(((...args: unknown[]) => {
    const xs = args[0] as tf.Tensor;
    const save = args[args.length - 1] as Saver;
    save([xs, ...consts]);
    return {
      value: f(xs, consts, false),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [x0, ...c0] = saved;
          const { grads } = withOuterTape(() => tf.engine().gradients(() => f(x0, c0, true), [x0, ...weights], dy, true));
          // a weight `f` did not reach gets a zero gradient (tfjs returns null)
          return grads.map((g, i) => g ?? tf.zerosLike(i === 0 ? x0 : weights[i - 1]));
        }),
    };
  }) as unknown as GradFunc);
  return op(x, ...weights);
}

/**
 * Runs `run` (a nested `gradients()` call) and restores the engine's active
 * tape afterwards: when the nested call ends at gradient depth 0 it disposes
 * its own tape and sets `activeTape` to null, but the enclosing backward pass
 * reads the tape it started with once it finishes.
 */
function withOuterTape<T>(run: () => T): T {
  const state = tf.engine().state as Partial<EngineState> | undefined;
  if (state === undefined || !('activeTape' in state) || !('gradientDepth' in state)) {
    throw new MAEError(
      'recompute: this version of @tensorflow/tfjs-core has no engine.state.activeTape / gradientDepth (tfjs-mae was built against 4.22); run without recompute',
    );
  }
  const tape = state.activeTape;
  try {
    return run();
  } finally {
    state.activeTape = tape;
  }
}
