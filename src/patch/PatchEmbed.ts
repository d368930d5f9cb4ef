/** Patch embedding: patchify, then one linear projection (no conv2d: wasm has no filter gradient). */
import * as tf from '@tensorflow/tfjs-core';
import { serialization } from '@tensorflow/tfjs-core';
import type { LayerVariable } from '@tensorflow/tfjs-layers';
import { MAEConfigError, MAEInputError, describe } from '../errors';
import { dimEquals, floatTensor, pair, positiveInt, tensorOfRank, optionalSeed } from '../util/validate';
import { MAELayer, type BaseLayerArgs, type StateEntry } from '../nn/MAELayer';
import { linear } from '../nn/ops';
import { childSeed, uniform, xavierUniform } from '../nn/init';
import { patchify } from './patchify';

/** Arguments of {@link PatchEmbed}. */
export interface PatchEmbedArgs extends BaseLayerArgs {
  /** Image size, `n` or `[H, W]`. Required; divisible by `patchSize` on each side. */
  imgSize: number | [number, number];
  /** Patch side p. Required. */
  patchSize: number;
  /** Image channels C. Defaults to `3`. */
  inChans?: number;
  /** Token width D. Required. */
  embedDim: number;
  /** Seed of the weight init. Defaults to a random init. */
  seed?: number;
}

/**
 * `[N, H, W, C]` → `[N, L, D]`: the official Conv2d(kernel = stride = p) as
 * `patchify` followed by a `[p·p·C, D]` linear map. Initialised as the
 * official code: xavier-uniform on the `[D, C·p·p]` view of the weight, and
 * PyTorch's default conv bias `U(±1/√(C·p·p))`. Official names:
 * `proj.weight` (`[D, C, p, p]`), `proj.bias`.
 */
export class PatchEmbed extends MAELayer {
  /** The name this class is registered under for tfjs-layers serialisation. */
  static readonly className = 'MAEPatchEmbed';
  /** `[H, W]`, the image size. */
  readonly imgSize: [number, number];
  /** Patch side p. */
  readonly patchSize: number;
  /** Image channels C. */
  readonly inChans: number;
  /** Token width D. */
  readonly embedDim: number;
  /** Seed of the weight init; `undefined` for a random init. */
  readonly seed?: number;
  /** `[h, w]`, the patch grid. */
  readonly gridSize: [number, number];
  /** L = h·w. */
  readonly numPatches: number;
  /** `[p·p·C, D]` in patchify order (torch conv `[D, C, p, p]`); created on build. */
  kernel!: LayerVariable;
  /** `[D]`; created on build. */
  bias!: LayerVariable;

  constructor(args: PatchEmbedArgs) {
    super(args);
    this.imgSize = pair('imgSize', args.imgSize);
    this.patchSize = positiveInt('patchSize', args.patchSize);
    this.inChans = positiveInt('inChans', args.inChans ?? 3);
    this.embedDim = positiveInt('embedDim', args.embedDim);
    this.seed = optionalSeed('seed', args.seed);
    const [hh, ww] = this.imgSize;
    const p = this.patchSize;
    if (hh % p !== 0 || ww % p !== 0) {
      throw new MAEConfigError(
        `imgSize must be divisible by patchSize ${p} on each side, got [${hh}, ${ww}] ` +
          `(crop or resize to [${Math.max(p, hh - (hh % p))}, ${Math.max(p, ww - (ww % p))}])`,
      );
    }
    this.gridSize = [hh / p, ww / p];
    this.numPatches = this.gridSize[0] * this.gridSize[1];
    this.buildUnlessDeferred(args);
  }

  protected override createWeights(): void {
    const fanIn = this.patchSize * this.patchSize * this.inChans;
    this.kernel = this.weight('kernel', [fanIn, this.embedDim], xavierUniform(childSeed(this.seed, 0)));
    this.bias = this.weight('bias', [this.embedDim], uniform(1 / Math.sqrt(fanIn), childSeed(this.seed, 1)));
  }

  /** Checks that `imgs` is float32 `[N, H, W, C]` with this layer's size and channels. */
  checkImages(imgs: unknown, name = 'imgs'): tf.Tensor4D {
    const x = tensorOfRank(name, imgs, 4, '[N, H, W, C] (NHWC)');
    this.refuseNCHW(name, x);
    dimEquals(name, x, 1, this.imgSize[0], 'height');
    dimEquals(name, x, 2, this.imgSize[1], 'width');
    dimEquals(name, x, 3, this.inChans, 'channels');
    floatTensor(name, x);
    return x as tf.Tensor4D;
  }

  /** A `[N, C, H, W]` tensor (PyTorch's layout) gets an error that says so and how to convert. */
  private refuseNCHW(name: string, x: tf.Tensor): void {
    const [, a, b, c] = x.shape;
    const [h, w] = this.imgSize;
    const nhwc = a === h && b === w && c === this.inChans;
    if (!nhwc && a === this.inChans && b === h && c === w) {
      throw new MAEInputError(
        `${name} must be NHWC [N, ${h}, ${w}, ${this.inChans}], got shape ${describe(x.shape)}, which is NCHW ` +
          `(channels first, PyTorch's layout): pass tf.transpose(${name}, [0, 2, 3, 1])`,
      );
    }
  }

  /** `imgs`: `[N, H, W, C]` → `[N, L, D]`. */
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const imgs = this.checkImages(Array.isArray(inputs) ? inputs[0] : inputs);
    return tf.tidy(() => this.embed(patchify(imgs, this.patchSize)));
  }

  /**
   * The projection alone, on patches already cut (and possibly selected):
   * `[N, K, p·p·C]` (the `patchify` layout) → `[N, K, D]`.
   */
  embed(patches: tf.Tensor3D): tf.Tensor3D {
    this.ensureBuilt();
    return linear(patches, this.kernel.read(), this.bias.read()) as tf.Tensor3D;
  }

  override computeOutputShape(inputShape: (number | null)[]): (number | null)[] {
    return [inputShape[0], this.numPatches, this.embedDim];
  }

  stateEntries(prefix = ''): StateEntry[] {
    this.ensureBuilt();
    return [
      { name: `${prefix}proj.weight`, variable: this.kernel, layout: { kind: 'patch', patchSize: this.patchSize, inChans: this.inChans } },
      { name: `${prefix}proj.bias`, variable: this.bias, layout: { kind: 'same' } },
    ];
  }

  override getConfig(): serialization.ConfigDict {
    return {
      ...super.getConfig(),
      imgSize: [...this.imgSize],
      patchSize: this.patchSize,
      inChans: this.inChans,
      embedDim: this.embedDim,
      seed: this.seed ?? null,
    };
  }
}
serialization.registerClass(PatchEmbed);
