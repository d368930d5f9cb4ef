import sharp from 'sharp';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SampleSpec } from 'tfjs-mae';
import { decodeSample } from '../../src/node/transforms';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'tfjs-mae-transforms-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const COLOUR = [103, 129, 186];

/** A `w × h` RGBA PNG of one colour whose left half is fully transparent (alpha 0), right half opaque. */
async function halfTransparentPng(file: string, w: number, h: number, channels: 2 | 4): Promise<void> {
  const px = new Uint8Array(w * h * channels);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const at = (y * w + x) * channels;
      if (channels === 4) px.set(COLOUR, at);
      else px[at] = COLOUR[0];
      px[at + channels - 1] = x < w / 2 ? 0 : 255;
    }
  }
  await sharp(Buffer.from(px), { raw: { width: w, height: h, channels } }).png().toFile(file);
}

const spec = (transform: SampleSpec['transform'], channels: 1 | 3 = 3): SampleSpec => ({
  transform,
  size: 16,
  channels,
  seed: 7,
  scale: [0.2, 1],
  ratio: [3 / 4, 4 / 3],
  flipProbability: 0.5,
  maxPixels: 89478485,
});

describe('decodeSample', () => {
  // torchvision's loader is Image.open(f).convert('RGB'): alpha is dropped first and the colour under
  // alpha 0 is kept (PIL gives the colour everywhere here); libvips resamples alpha images premultiplied,
  // which turned the transparent half black.
  it.each(['eval', 'train', 'resize'] as const)('%s: drops alpha before resampling, keeping the colour under alpha 0 (as PIL convert("RGB"))', async (transform) => {
    const file = path.join(dir, `half-${transform}.png`);
    await halfTransparentPng(file, 120, 90, 4);
    const r = await decodeSample(sharp, file, spec(transform));
    expect('pixels' in r, JSON.stringify(r)).toBe(true);
    const px = (r as { pixels: Uint8Array }).pixels;
    expect(px.length).toBe(16 * 16 * 3);
    for (let i = 0; i < px.length; i++) expect(Math.abs(px[i] - COLOUR[i % 3]), `pixel ${Math.floor(i / 3)} channel ${i % 3}`).toBeLessThanOrEqual(1);
  });

  it('grey + alpha to 1 channel: the grey under alpha 0 is kept too', async () => {
    const file = path.join(dir, 'grey-alpha.png');
    await halfTransparentPng(file, 64, 64, 2);
    const r = await decodeSample(sharp, file, spec('eval', 1));
    const px = (r as { pixels: Uint8Array }).pixels;
    expect(px.length).toBe(16 * 16);
    for (let i = 0; i < px.length; i++) expect(Math.abs(px[i] - COLOUR[0]), `pixel ${i}`).toBeLessThanOrEqual(1);
  });
});
