/** Multi-head self-attention with a fused qkv projection (timm `Attention`). */
import * as tf from '@tensorflow/tfjs-core';
import { serialization } from '@tensorflow/tfjs-core';
import { divisible, positiveInt, optionalSeed } from '../util/validate';
import { MAELayer, type BaseLayerArgs, type StateEntry } from './MAELayer';
import { Linear } from './Linear';
import { childSeed } from './init';
import { attentionProbs, multiHeadAttention, splitHeads } from './attentionOps';
import { checkTokenRows, type TokenRows } from './tokens';

/** Arguments of {@link Attention}. */
export interface AttentionArgs extends BaseLayerArgs {
  /** Token width D. Required; divisible by `numHeads`. */
  dim: number;
  /** Number of heads. Required. */
  numHeads: number;
  /** Bias in the qkv projection. Defaults to `true` (official MAE). */
  qkvBias?: boolean;
  /** Seed of the weight init. Defaults to a random init. */
  seed?: number;
}

/** Per-call options of {@link Attention}. */
export interface AttentionCallArgs {
  /** When given, the attention probabilities are pushed here (kept out of any tidy; the caller disposes them). */
  attnOut?: tf.Tensor[];
  /** Compute the output of these rows only (all rows still serve as keys and values). Defaults to every row. */
  queryRows?: TokenRows;
}

/**
 * `proj(softmax(q·kᵀ · hd^-½) · v)` with heads concatenated:
 * `[N, T, D]` → `[N, T, D]`, `hd = D / numHeads`.
 * `qkv` maps D → 3D: columns `[0, D)` are q, `[D, 2D)` k, `[2D, 3D)` v, and
 * head h owns columns `h·hd … (h+1)·hd − 1` inside each (the official layout).
 */
export class Attention extends MAELayer {
  /** The name this class is registered under for tfjs-layers serialisation. */
  static readonly className = 'MAEAttention';
  /** Token width D. */
  readonly dim: number;
  /** Number of heads; each is `D / numHeads` wide. */
  readonly numHeads: number;
  /** Whether the qkv projection has a bias. */
  readonly qkvBias: boolean;
  /** Seed of the weight init; `undefined` for a random init. */
  readonly seed?: number;
  /** The fused q, k, v projection, D → 3D (official `attn.qkv`). */
  readonly qkv: Linear;
  /** The output projection, D → D (official `attn.proj`). */
  readonly proj: Linear;

  constructor(args: AttentionArgs) {
    super(args);
    this.dim = positiveInt('Attention.dim', args.dim);
    this.numHeads = positiveInt('Attention.numHeads', args.numHeads);
    divisible('Attention.dim', this.dim, this.numHeads, 'numHeads must split it evenly');
    this.qkvBias = args.qkvBias ?? true;
    this.seed = optionalSeed('seed', args.seed);
    this.qkv = this.track(
      new Linear({ deferBuild: true, inFeatures: this.dim, units: 3 * this.dim, useBias: this.qkvBias, seed: childSeed(this.seed, 0) }),
    );
    this.proj = this.track(new Linear({ deferBuild: true, inFeatures: this.dim, units: this.dim, seed: childSeed(this.seed, 1) }));
    this.buildUnlessDeferred(args);
  }

  /**
   * `x`: `[N, T, D]` → `[N, T, D]`, or `[N, R, D]` for the rows chosen by
   * `queryRows` (every row is still a key and a value). `attnOut`, when
   * given, receives the `[N, H, T, T]` (or `[N, H, R, T]`) attention maps.
   */
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: AttentionCallArgs = {}): tf.Tensor {
    this.ensureBuilt();
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const [n, t, d] = x.shape as [number, number, number];
    const rows = kwargs.queryRows;
    if (rows) checkTokenRows('Attention queryRows', rows, n, t);
    return tf.tidy(() => {
      const qkv = this.qkv.call(x) as tf.Tensor3D; // [N, T, 3D]
      if (kwargs.attnOut) {
        const { q, k } = splitHeads(qkv, this.numHeads, rows); // [N·H, R, hd], [N·H, T, hd]
        const probs = attentionProbs(q, k, (d / this.numHeads) ** -0.5);
        kwargs.attnOut.push(tf.keep(tf.reshape(probs, [n, this.numHeads, q.shape[1], t])));
      }
      return this.proj.call(multiHeadAttention(qkv, this.numHeads, rows)); // [N, R, D]
    });
  }

  stateEntries(prefix = ''): StateEntry[] {
    return [...this.qkv.stateEntries(`${prefix}qkv.`), ...this.proj.stateEntries(`${prefix}proj.`)];
  }

  override getConfig(): serialization.ConfigDict {
    return { ...super.getConfig(), dim: this.dim, numHeads: this.numHeads, qkvBias: this.qkvBias, seed: this.seed ?? null };
  }
}
serialization.registerClass(Attention);
