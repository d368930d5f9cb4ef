/**
 * RGBA pictures onto a canvas, in browsers and web workers. DOM types are
 * touched only when {@link toCanvas} is called, so this module loads
 * anywhere; in Node, write PNG files with `writePng` from `tfjs-mae/node`.
 */
import { MAEError, describe } from '../errors';
import type { RgbaImage } from './reconstruction';

/** A canvas {@link toCanvas} can draw on. */
export type DrawableCanvas = HTMLCanvasElement | OffscreenCanvas;

/**
 * Draws `image` (e.g. from `reconstructionGrid`) on a canvas, pixel for
 * pixel. On `canvas` when given (resized to the picture), else on a new
 * `<canvas>` element, or an `OffscreenCanvas` where there is no `document`
 * (a worker).
 *
 * ```ts
 * const figure = await reconstructionGrid(imgs, out.pred, out.mask, { patchSize: 4, labels: true });
 * document.body.append(toCanvas(figure) as HTMLCanvasElement);
 * ```
 *
 * @throws MAEError without a DOM or `OffscreenCanvas` (Node), or for a malformed image
 */
export function toCanvas(image: RgbaImage): DrawableCanvas;
export function toCanvas<C extends DrawableCanvas>(image: RgbaImage, canvas: C): C;
export function toCanvas(image: RgbaImage, canvas?: DrawableCanvas): DrawableCanvas {
  const { data, width, height } = image ?? ({} as RgbaImage);
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1 || data?.length !== width * height * 4) {
    throw new MAEError(`image: expected { data, width, height } with width·height·4 bytes, got ${describe(width)}×${describe(height)} and ${describe(data?.length)} bytes`);
  }
  const g = globalThis as { document?: Document; OffscreenCanvas?: typeof OffscreenCanvas; ImageData?: typeof ImageData };
  const target = canvas ?? (g.document ? g.document.createElement('canvas') : g.OffscreenCanvas ? new g.OffscreenCanvas(width, height) : undefined);
  if (target === undefined || g.ImageData === undefined) {
    throw new MAEError('toCanvas needs a DOM or OffscreenCanvas (a browser or a worker); in Node, write a PNG with writePng from tfjs-mae/node');
  }
  target.width = width;
  target.height = height;
  const ctx = target.getContext('2d') as CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D | null;
  if (!ctx) throw new MAEError('toCanvas: the canvas has no 2d context');
  ctx.putImageData(new g.ImageData(new Uint8ClampedArray(data), width, height), 0, 0);
  return target;
}
