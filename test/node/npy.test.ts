/** encodeNpy: the NumPy 1.0 layout (magic, 64-byte aligned header, <f4 C order), read back exactly. */
import { describe, expect, it } from 'vitest';
import { decodeNpy, encodeNpy } from '../../src/node/npy';

describe('encodeNpy', () => {
  it('writes the header numpy expects and the float32 data after it', () => {
    const data = Float32Array.from({ length: 6 }, (_, i) => i / 3 - 0.5);
    const bytes = encodeNpy(data, [2, 3]);
    expect([...bytes.subarray(0, 8)]).toEqual([0x93, 78, 85, 77, 80, 89, 1, 0]);
    const headerLength = bytes[8] | (bytes[9] << 8);
    expect((10 + headerLength) % 64).toBe(0);
    const header = new TextDecoder().decode(bytes.subarray(10, 10 + headerLength));
    expect(header).toMatch(/^\{'descr': '<f4', 'fortran_order': False, 'shape': \(2, 3\), \} *\n$/);
    expect(bytes.length).toBe(10 + headerLength + 24);
    const back = decodeNpy(bytes);
    expect(back.shape).toEqual([2, 3]);
    expect([...back.data]).toEqual([...data]);
  });

  it('1-D shapes get the trailing comma of a Python tuple; empty arrays work', () => {
    const header = (b: Uint8Array) => new TextDecoder().decode(b.subarray(10, 10 + (b[8] | (b[9] << 8))));
    expect(header(encodeNpy(new Float32Array(4), [4]))).toContain("'shape': (4,)");
    expect(decodeNpy(encodeNpy(new Float32Array(0), [0, 8])).shape).toEqual([0, 8]);
  });

  it('decodes a Node Buffer that is a view into a larger buffer (fs.readFileSync of a small file)', () => {
    const data = Float32Array.from({ length: 6 }, (_, i) => i + 0.25);
    const file = encodeNpy(data, [2, 3]);
    const pool = Buffer.alloc(file.length + 3 + 64, 7); // odd offset: the bytes sit mid-buffer, as in Node's pool
    pool.set(file, 3);
    const view = pool.subarray(3, 3 + file.length);
    expect(view.byteOffset).toBe(3);
    expect([...decodeNpy(view).data]).toEqual([...data]);
  });

  it('rejects data that does not fill the shape', () => {
    expect(() => encodeNpy(new Float32Array(5), [2, 3])).toThrow(/6 numbers for shape \[2, 3\], got 5/);
  });
});
