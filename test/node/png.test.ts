/** encodePng: pngjs decodes exactly the pixels that went in. */
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { encodePng } from '../../src/node/png';

describe('encodePng', () => {
  it('round-trips RGBA pixels through a PNG decoder', () => {
    const width = 7;
    const height = 5;
    const data = Uint8ClampedArray.from({ length: width * height * 4 }, (_, i) => (i * 37 + (i >> 2)) & 255);
    const png = PNG.sync.read(Buffer.from(encodePng({ data, width, height })));
    expect([png.width, png.height]).toEqual([width, height]);
    expect([...png.data]).toEqual([...data]);
  });

  it('rejects a size that does not match the pixels', () => {
    expect(() => encodePng({ data: new Uint8ClampedArray(12), width: 2, height: 2 })).toThrow(/width·height·4 bytes, got 2×2 and 12 bytes/);
  });
});
