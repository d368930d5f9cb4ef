/**
 * The official MAE image transforms on files, with sharp (libvips), as
 * torchvision runs them on PIL images:
 * - pre-training (`main_pretrain.py`): RandomResizedCrop(size, scale
 *   0.2–1, ratio 3/4–4/3, bicubic), RandomHorizontalFlip, Normalize;
 * - evaluation (`main_finetune.py` / `main_linprobe.py`): Resize(size / 0.875,
 *   bicubic) of the shorter side, CenterCrop(size), Normalize.
 * The crop box and flip are drawn by the library's `sampleCropBoxes` /
 * `sampleFlips`, one sampler for tensors and files.
 */
import { DataError, sampleCropBoxes, sampleFlips, type CropBox } from 'tfjs-mae';
import type { Sharp } from './sharp';
import type { BadImageFile } from './imageFolder';

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
  /** Largest accepted `width × height` of a source image (checked from its header, before decoding). */
  maxPixels: number;
}

/** Python's `round` (half to even), as torchvision's CenterCrop uses it. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
}

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

/** A decoded sample, or why the file is bad. */
export type DecodeResult = { pixels: Uint8Array } | Omit<BadImageFile, 'path'>;

/**
 * Decodes `file` and applies the transform: `size × size × channels` uint8
 * pixels (HWC), or the reason the file is bad. Never throws for a bad file.
 */
export async function decodeSample(sharp: Sharp, file: string, spec: SampleSpec): Promise<DecodeResult> {
  let width: number;
  let height: number;
  try {
    const meta = await sharp(file, { failOn: 'warning', limitInputPixels: false }).metadata();
    width = meta.width ?? 0;
    height = meta.height ?? 0;
  } catch (err) {
    return corrupt(err);
  }
  if (!(width > 0 && height > 0)) return { kind: 'corrupt', reason: 'corrupt: no image size in the header' };
  if (width * height > spec.maxPixels) {
    return { kind: 'too-many-pixels', reason: `too many pixels: ${width}×${height} = ${width * height} > maxPixels ${spec.maxPixels} (a decompression bomb?)` };
  }
  try {
    let img = sharp(file, { failOn: 'warning', limitInputPixels: spec.maxPixels });
    if (spec.transform === 'train') {
      const [box] = sampleCropBoxes(1, height, width, { scale: spec.scale, ratio: spec.ratio, seed: spec.seed });
      img = img.extract({ left: box.left, top: box.top, width: box.width, height: box.height });
      img = img.resize(spec.size, spec.size, { kernel: 'cubic', fit: 'fill' });
      if (sampleFlips(1, { p: spec.flipProbability, seed: spec.seed })[0] === 1) img = img.flop();
    } else if (spec.transform === 'resize') {
      img = img.resize(spec.size, spec.size, { kernel: 'cubic', fit: 'fill' }); // aspect ratio not kept, nothing cropped
    } else {
      const [h, w] = evalResizeShape(height, width, spec.size, spec.cropPct);
      const box = centreCropBox(h, w, spec.size);
      img = img.resize(w, h, { kernel: 'cubic', fit: 'fill' }).extract({ left: box.left, top: box.top, width: box.width, height: box.height });
    }
    img = img.removeAlpha().toColourspace(spec.channels === 1 ? 'b-w' : 'srgb');
    const { data, info } = await img.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.width !== spec.size || info.height !== spec.size || info.channels !== spec.channels) {
      throw new DataError(`decoded ${info.width}×${info.height}×${info.channels}, expected ${spec.size}×${spec.size}×${spec.channels}`);
    }
    return { pixels: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch (err) {
    return corrupt(err);
  }
}

function corrupt(err: unknown): Omit<BadImageFile, 'path'> {
  const message = String((err as Error)?.message ?? err).split('\n')[0].trim();
  return { kind: 'corrupt', reason: `corrupt or truncated: ${message}` };
}
