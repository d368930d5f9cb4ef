/**
 * The official MAE image transforms on files, with sharp (libvips), as
 * torchvision runs them on PIL images. The geometry (crop box, flip, resize
 * and centre crop) is the library's `samplePlan`, shared with the browser's
 * canvas decoder; sharp carries it out with bicubic resampling.
 */
import { DataError, corruptFile, overPixelLimit, samplePlan, type DecodeResult, type SampleSpec } from 'tfjs-mae';
import type { Sharp } from './sharp';

/**
 * Decodes `file` and applies the transform: `size × size × channels` uint8
 * pixels (HWC), or the reason the file is bad. Never throws for a bad file.
 */
export async function decodeSample(sharp: Sharp, file: string, spec: SampleSpec): Promise<DecodeResult> {
  let width: number;
  let height: number;
  let hasAlpha: boolean;
  try {
    const meta = await sharp(file, { failOn: 'warning', limitInputPixels: false }).metadata();
    width = meta.width ?? 0;
    height = meta.height ?? 0;
    hasAlpha = meta.hasAlpha === true;
  } catch (err) {
    return corruptFile(err);
  }
  if (!(width > 0 && height > 0)) return { kind: 'corrupt', reason: 'corrupt: no image size in the header' };
  const tooBig = overPixelLimit(width, height, spec.maxPixels);
  if (tooBig) return tooBig;
  try {
    let img = hasAlpha ? await withoutAlpha(sharp, file, spec.maxPixels) : sharp(file, { failOn: 'warning', limitInputPixels: spec.maxPixels });
    const plan = samplePlan(height, width, spec);
    const { box } = plan;
    if (plan.transform === 'train') {
      img = img.extract({ left: box.left, top: box.top, width: box.width, height: box.height });
      img = img.resize(spec.size, spec.size, { kernel: 'cubic', fit: 'fill' });
      if (plan.flip) img = img.flop();
    } else {
      const [h, w] = plan.resize;
      img = img.resize(w, h, { kernel: 'cubic', fit: 'fill' }).extract({ left: box.left, top: box.top, width: box.width, height: box.height });
    }
    img = img.removeAlpha().toColourspace(spec.channels === 1 ? 'b-w' : 'srgb');
    const { data, info } = await img.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.width !== spec.size || info.height !== spec.size || info.channels !== spec.channels) {
      throw new DataError(`decoded ${info.width}×${info.height}×${info.channels}, expected ${spec.size}×${spec.size}×${spec.channels}`);
    }
    return { pixels: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch (err) {
    return corruptFile(err);
  }
}

/**
 * `file` with its alpha channel dropped before any resampling, as
 * torchvision's loader does (`Image.convert('RGB')`): libvips resamples an
 * image that has alpha premultiplied, which turns the colour under alpha 0
 * black, so the alpha goes in a first pipeline (to raw 8-bit sRGB) and the
 * geometry runs on its output.
 */
async function withoutAlpha(sharp: Sharp, file: string, maxPixels: number): Promise<ReturnType<Sharp>> {
  const { data, info } = await sharp(file, { failOn: 'warning', limitInputPixels: maxPixels })
    .removeAlpha()
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  return sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } });
}
