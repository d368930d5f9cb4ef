/** The pre-norm ViT block shared by encoder, decoder and classifier (timm 0.3.2 `Block`). */
import * as tf from '@tensorflow/tfjs-core';
import { serialization } from '@tensorflow/tfjs-core';
import { positiveInt, positiveNumber, optionalSeed } from '../util/validate';
import { MAELayer, type BaseLayerArgs, type StateEntry } from './MAELayer';
import { Attention } from './Attention';
import { LayerNorm } from './LayerNorm';
import { Mlp } from './Mlp';
import { childSeed } from './init';
import { gatherTokens } from './ops';
import { checkTokenRows, type TokenRows } from './tokens';
import { dropPath as dropBranch, dropRate as checkRate } from './stochastic';
import { recomputed } from './recompute';

/** Arguments of {@link TransformerBlock}. */
export interface TransformerBlockArgs extends BaseLayerArgs {
  /** Token width D. Required; divisible by `numHeads`. */
  dim: number;
  /** Attention heads. Required. */
  numHeads: number;
  /** MLP hidden width = `Math.trunc(dim · mlpRatio)`. Defaults to `4`. */
  mlpRatio?: number;
  /** Bias in the fused qkv projection. Defaults to `true`. */
  qkvBias?: boolean;
  /** LayerNorm epsilon. Defaults to `1e-6`. */
  layerNormEps?: number;
  /** Seed of the weight init. Defaults to a random init. */
  seed?: number;
  /**
   * Stochastic depth: probability that a sample skips each residual branch
   * (timm `drop_path`), in `[0, 1)`; acts only in calls with `training: true`.
   * Defaults to `0`.
   */
  dropPath?: number;
  /**
   * Dropout on the output of each residual branch (timm's `proj_drop` and the
   * MLP's output dropout), in `[0, 1)`; acts only with `training: true`.
   * Defaults to `0`.
   */
  dropRate?: number;
}

/** Per-call options of {@link TransformerBlock} (and the stacks built from it). */
export interface BlockCallArgs {
  /** When given, the `[N, H, T, T]` attention probabilities are pushed here (kept out of any tidy; the caller disposes them). */
  attnOut?: tf.Tensor[];
  /** Apply `dropPath` and `dropRate`. Defaults to `false` (inference: no noise). */
  training?: boolean;
  /** Seed of the training noise of this call. Defaults to a random draw. */
  seed?: number;
  /**
   * Compute the block's output for these rows only: `[N, T, D]` → `[N, R, D]`.
   * Every row is still a key and a value of the attention, so the chosen
   * rows come out as from the full block (up to float rounding). Defaults to
   * every row.
   */
  queryRows?: TokenRows;
  /**
   * Recompute the block in the backward pass (activation checkpointing): the
   * gradient tape keeps only the block's input `[N, T, D]`, and the backward
   * pass runs the block again to backpropagate through it. Same values and
   * gradients, one more forward pass of the block, far less memory. Training
   * noise without a `seed` is drawn once per call, so the replay sees the
   * same noise. Defaults to `false`.
   */
  recompute?: boolean;
}

/**
 * `x = x + attn(norm1(x)); x = x + mlp(norm2(x))`: `[N, T, D]` → `[N, T, D]`.
 * Official names: `norm1.*`, `attn.qkv.*`, `attn.proj.*`, `norm2.*`, `mlp.fc1.*`, `mlp.fc2.*`.
 */
export class TransformerBlock extends MAELayer {
  /** The name this class is registered under for tfjs-layers serialisation. */
  static readonly className = 'MAETransformerBlock';
  /** Token width D. */
  readonly dim: number;
  /** Attention heads. */
  readonly numHeads: number;
  /** MLP hidden width = `Math.trunc(dim · mlpRatio)`. */
  readonly mlpRatio: number;
  /** Whether the qkv projection has a bias. */
  readonly qkvBias: boolean;
  /** LayerNorm epsilon of `norm1` and `norm2`. */
  readonly layerNormEps: number;
  /** Seed of the weight init; `undefined` for a random init. */
  readonly seed?: number;
  /** Stochastic-depth probability per residual branch (training calls only). */
  readonly dropPath: number;
  /** Dropout on each residual branch output (training calls only). */
  readonly dropRate: number;
  /** LayerNorm before attention. */
  readonly norm1: LayerNorm;
  /** Multi-head self-attention. */
  readonly attn: Attention;
  /** LayerNorm before the MLP. */
  readonly norm2: LayerNorm;
  /** The MLP, D → `Math.trunc(D · mlpRatio)` → D. */
  readonly mlp: Mlp;

  constructor(args: TransformerBlockArgs) {
    super(args);
    this.dim = positiveInt('TransformerBlock.dim', args.dim);
    this.numHeads = positiveInt('TransformerBlock.numHeads', args.numHeads);
    this.mlpRatio = positiveNumber('TransformerBlock.mlpRatio', args.mlpRatio ?? 4);
    this.qkvBias = args.qkvBias ?? true;
    this.layerNormEps = positiveNumber('TransformerBlock.layerNormEps', args.layerNormEps ?? 1e-6);
    this.seed = optionalSeed('seed', args.seed);
    this.dropPath = checkRate('TransformerBlock.dropPath', args.dropPath ?? 0);
    this.dropRate = checkRate('TransformerBlock.dropRate', args.dropRate ?? 0);
    const hidden = Math.trunc(this.dim * this.mlpRatio);
    const eps = this.layerNormEps;
    this.norm1 = this.track(new LayerNorm({ deferBuild: true, dim: this.dim, eps }));
    this.attn = this.track(
      new Attention({ deferBuild: true, dim: this.dim, numHeads: this.numHeads, qkvBias: this.qkvBias, seed: childSeed(this.seed, 0) }),
    );
    this.norm2 = this.track(new LayerNorm({ deferBuild: true, dim: this.dim, eps }));
    this.mlp = this.track(new Mlp({ deferBuild: true, dim: this.dim, hidden, seed: childSeed(this.seed, 1) }));
    this.buildUnlessDeferred(args);
  }

  /** `x`: `[N, T, D]` → `[N, T, D]` (`[N, R, D]` with `queryRows`). */
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: BlockCallArgs = {}): tf.Tensor {
    this.ensureBuilt();
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const rows = kwargs.queryRows;
    if (rows) checkTokenRows('TransformerBlock queryRows', rows, x.shape[0], x.shape[1] ?? 0);
    return kwargs.recompute ? this.recomputedBlock(x, kwargs) : this.block(x, kwargs);
  }

  /** The block's math (see `call`). */
  private block(x: tf.Tensor, kwargs: BlockCallArgs): tf.Tensor {
    const rows = kwargs.queryRows;
    return tf.tidy(() => {
      const attn = this.attn.call(this.norm1.call(x), { attnOut: kwargs.attnOut, queryRows: rows });
      const kept = rows ? gatherTokens(x as tf.Tensor3D, rows.ids, rows.inverse) : x; // [N, R, D]
      const h = tf.add(kept, this.residual(attn, kwargs, 0));
      return tf.add(h, this.residual(this.mlp.call(this.norm2.call(h)), kwargs, 1));
    });
  }

  /** The block as one recomputed op (`recompute: true`): the tape keeps `x` (and the query rows) only. */
  private recomputedBlock(x: tf.Tensor, kwargs: BlockCallArgs): tf.Tensor {
    const noisy = kwargs.training === true && (this.dropPath > 0 || this.dropRate > 0);
    // the replay must draw the forward's noise
    const seed = noisy && kwargs.seed === undefined ? Math.floor(Math.random() * 4294967296) : kwargs.seed;
    const rows = kwargs.queryRows;
    const weights = this.weights.map((w) => w.read() as tf.Variable);
    return recomputed(
      (xs, [ids, inverse], replay) =>
        this.block(xs, { ...kwargs, seed, attnOut: replay ? undefined : kwargs.attnOut, queryRows: rows && { ids, inverse } as TokenRows }),
      x,
      rows ? [rows.ids, rows.inverse] : [],
      weights,
    );
  }

  /** Training noise on branch `k` (0 attention, 1 MLP): dropout, then drop path. */
  private residual(branch: tf.Tensor, kwargs: BlockCallArgs, k: number): tf.Tensor {
    if (!kwargs.training) return branch;
    const seed = (i: number): number | undefined => childSeed(kwargs.seed, 2 * k + i);
    const dropped = this.dropRate > 0 ? tf.dropout(branch, this.dropRate, undefined, seed(0)) : branch;
    return this.dropPath > 0 ? dropBranch(dropped, this.dropPath, seed(1)) : dropped;
  }

  stateEntries(prefix = ''): StateEntry[] {
    return [
      ...this.norm1.stateEntries(`${prefix}norm1.`),
      ...this.attn.stateEntries(`${prefix}attn.`),
      ...this.norm2.stateEntries(`${prefix}norm2.`),
      ...this.mlp.stateEntries(`${prefix}mlp.`),
    ];
  }

  override getConfig(): serialization.ConfigDict {
    return {
      ...super.getConfig(),
      dim: this.dim,
      numHeads: this.numHeads,
      mlpRatio: this.mlpRatio,
      qkvBias: this.qkvBias,
      layerNormEps: this.layerNormEps,
      seed: this.seed ?? null,
      dropPath: this.dropPath,
      dropRate: this.dropRate,
    };
  }
}
serialization.registerClass(TransformerBlock);
