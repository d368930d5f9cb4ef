/**
 * The geometry of the official MAE image transforms on one decoded file, as
 * torchvision runs them on PIL images; the decoders (sharp in Node, a canvas
 * in browsers) carry it out:
 * - pre-training (`main_pretrain.py`): RandomResizedCrop(size, scale
 *   0.2–1, ratio 3/4–4/3, bicubic), RandomHorizontalFlip, Normalize;
 * - evaluation (`main_finetune.py` / `main_linprobe.py`): Resize(size / 0.875,
 *   bicubic) of the shorter side, CenterCrop(size), Normalize (`cropPct`
 *   replaces 0.875);
 * - the visualisation notebook: the whole image resized to `size × size`.
 * The crop box and flip are drawn by `sampleCropBoxes` / `sampleFlips`, one
 * sampler for tensors and files.
 */
import { roundHalfEven, sampleCropBoxes, sampleFlips, type CropBox } from './augment';
import { mixSeed } from './rng';
import type { BadImageFile } from './imageFiles';

/**
 * Which transform: the pre-training augmentation, the evaluation resize +
 * centre crop, or a plain resize of the whole image to `size × size` (the
 * official visualisation notebook's `img.resize((224, 224))`, bicubic).
 */
export type ImageTransform = 'train' | 'eval' | 'resize';

/** The geometry and randomness of one decoded sample. */
export interface SampleSpec {
  /** `'train'` (random resized crop + flip), `'eval'` (resize + centre crop) or `'resize'` (the whole image to size × size). */
  transform: ImageTransform;
  /** Output size, pixels (square). */
  size: number;
  /** Eval: the shorter side is resized to `floor(size / cropPct)` before the centre crop. Defaults to 0.875. */
  cropPct?: number;
  /** Output channels: 1 (grey) or 3 (RGB). */
  channels: 1 | 3;
  /** Seed of this sample's crop and flip (train only). */
  seed: number;
  /** Area range of the crop (train). */
  scale: [number, number];
  /** Aspect-ratio range of the crop (train). */
  ratio: [number, number];
  /** Probability of a horizontal flip (train). */
  flipProbability: number;
  /** Largest accepted `width × height` of a source image (checked before decoding where the decoder can). */
  maxPixels: number;
}

/** A decoded sample (`size × size × channels` uint8, HWC), or why the file is bad. */
export type DecodeResult =
  | {
      /** `size · size · channels` uint8 pixels, HWC. */
      pixels: Uint8Array;
    }
  | Omit<BadImageFile, 'path'>;

/**
 * The size `[h, w]` of torchvision's `Resize(int(size / cropPct))` of an
 * `height × width` image: the shorter side becomes `int(size / cropPct)`, the
 * longer `int(that × long / short)`.
 */
export function evalResizeShape(height: number, width: number, size: number, cropPct = 0.875): [number, number] {
  const short = Math.floor(size / cropPct);
  if (width <= height) return [Math.floor((short * height) / width), short];
  return [short, Math.floor((short * width) / height)];
}

/** torchvision's `CenterCrop(size)` box of an `height × width` image (`top = round((h − size) / 2)`). */
export function centreCropBox(height: number, width: number, size: number): CropBox {
  return { top: roundHalfEven((height - size) / 2), left: roundHalfEven((width - size) / 2), height: size, width: size };
}

/**
 * What to do with one `height × width` image:
 * - `'train'`: crop `box` of the source, resize it to `size × size`, then mirror when `flip`;
 * - `'eval'`: resize the whole source to `resize = [h, w]`, then crop `box` of that
 *   (a `'resize'` spec plans as `'eval'` with `resize = [size, size]` and the whole of it as `box`).
 */
export type SamplePlan =
  | {
      /** The pre-training transform. */
      transform: 'train';
      /** The crop of the source image, resized to `size × size`. */
      box: CropBox;
      /** Mirror the resized crop left–right. */
      flip: boolean;
    }
  | {
      /** The evaluation transform. */
      transform: 'eval';
      /** `[h, w]` the whole source image is resized to first. */
      resize: [number, number];
      /** The centre crop of the resized image. */
      box: CropBox;
    };

/** The plan of a sample (a pure function of the image size and `spec`). */
export function samplePlan(height: number, width: number, spec: SampleSpec): SamplePlan {
  if (spec.transform === 'train') {
    const [box] = sampleCropBoxes(1, height, width, { scale: spec.scale, ratio: spec.ratio, seed: spec.seed });
    return { transform: 'train', box, flip: sampleFlips(1, { p: spec.flipProbability, seed: spec.seed })[0] === 1 };
  }
  if (spec.transform === 'resize') {
    return { transform: 'eval', resize: [spec.size, spec.size], box: { top: 0, left: 0, height: spec.size, width: spec.size } };
  }
  const resize = evalResizeShape(height, width, spec.size, spec.cropPct);
  return { transform: 'eval', resize, box: centreCropBox(resize[0], resize[1], spec.size) };
}

/** Why an image of `width × height` is over the pixel limit, or `undefined` when it is not. */
export function overPixelLimit(width: number, height: number, maxPixels: number): Omit<BadImageFile, 'path'> | undefined {
  if (width * height <= maxPixels) return undefined;
  return { kind: 'too-many-pixels', reason: `too many pixels: ${width}×${height} = ${width * height} > maxPixels ${maxPixels} (a decompression bomb?)` };
}

const SAMPLE_STREAM = 0x73616d70;

/**
 * The seed of the crop and flip of the sample at position `position` of
 * epoch `epoch` of a source seeded `seed` (give it to `sampleCropBoxes` /
 * `sampleFlips` to know what a sample got).
 */
export function sampleSeed(seed: number, epoch: number, position: number): number {
  return mixSeed(mixSeed(mixSeed(seed, SAMPLE_STREAM), epoch), position);
}
