/**
 * Test helpers: a tiny pickle assembler and a stored-entry zip writer, to
 * build hostile or hand-made PyTorch checkpoints inside the tests.
 */
import { crc32 } from '../../src/io/torch/zip';

/** Assembles pickle opcodes; every method returns `this` for chaining. */
export class Pickle {
  readonly out: number[] = [];
  raw(...bytes: number[]): this {
    for (const b of bytes) this.out.push(b);
    return this;
  }
  /** Appends many bytes (no spread: large arrays would overflow the call stack). */
  many(bytes: ArrayLike<number>): this {
    for (let i = 0; i < bytes.length; i++) this.out.push(bytes[i]);
    return this;
  }
  op(code: string | number): this {
    return this.raw(typeof code === 'number' ? code : code.charCodeAt(0));
  }
  proto(v = 2): this {
    return this.raw(0x80, v);
  }
  mark(): this {
    return this.op('(');
  }
  stop(): this {
    return this.op('.');
  }
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    this.op('X');
    this.u32(b.length);
    return this.many(b);
  }
  u32(n: number): this {
    return this.raw(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
  }
  /** BININT (signed 32-bit). */
  int(n: number): this {
    return this.op('J').u32(n >>> 0);
  }
  global(module: string, name: string): this {
    return this.op('c').many(new TextEncoder().encode(`${module}\n${name}\n`));
  }
  tuple(...parts: ((p: this) => unknown)[]): this {
    this.mark();
    for (const part of parts) part(this);
    return this.op('t');
  }
  intTuple(values: number[]): this {
    return this.tuple(...values.map((v) => (p: this) => p.int(v)));
  }
  emptyOrderedDict(): this {
    return this.global('collections', 'OrderedDict').op(')').op('R');
  }
  /** `_rebuild_tensor_v2(persistent_id(('storage', torch.<type>, key, 'cpu', numel)), offset, size, stride, False, OrderedDict())`. */
  tensor(t: { type?: string; key: string; numel: number; offset?: number; size: number[]; stride?: number[] }): this {
    const size = t.size;
    const stride = t.stride ?? size.map((_, i) => size.slice(i + 1).reduce((a, b) => a * b, 1));
    this.global('torch._utils', '_rebuild_tensor_v2');
    this.mark();
    this.tuple(
      (p) => p.str('storage'),
      (p) => p.global('torch', t.type ?? 'FloatStorage'),
      (p) => p.str(t.key),
      (p) => p.str('cpu'),
      (p) => p.int(t.numel),
    ).op('Q');
    this.int(t.offset ?? 0).intTuple(size).intTuple(stride).op(0x89).emptyOrderedDict();
    return this.op('t').op('R');
  }
  /** A state dict `OrderedDict([(name, tensor), ...])`. */
  stateDict(entries: [string, (p: this) => unknown][]): this {
    this.emptyOrderedDict().mark();
    for (const [name, value] of entries) {
      this.str(name);
      value(this);
    }
    return this.op('u');
  }
  bytes(): Uint8Array {
    return new Uint8Array(this.out);
  }
}

/**
 * Writes a zip of stored entries, as a minimal torch.save archive would be.
 * With `zip64`, every size and offset is moved to ZIP64 extra fields and a
 * ZIP64 end record + locator is written (what large torch files contain).
 */
export function makeZip(files: [string, Uint8Array][], opts: { method?: number; zip64?: boolean } = {}): Uint8Array {
  const { parts, size } = zipParts(files, opts);
  const out = new Uint8Array(size);
  for (const p of parts) out.set(p.bytes, p.offset);
  return out;
}

/** An entry of {@link zipParts} that takes `size` bytes of zeros in the file but none in memory (for sparse files). */
export interface SparseEntry {
  zeros: number;
}

/**
 * {@link makeZip}'s bytes as positioned parts (entries of zeros leave holes),
 * so a test can write a sparse archive of many GiB: write the parts, then
 * truncate the file to `size`. A zeros entry's CRC is left 0 (never read).
 */
export function zipParts(
  files: [string, Uint8Array | SparseEntry][],
  opts: { method?: number; zip64?: boolean } = {},
): { parts: { offset: number; bytes: Uint8Array }[]; size: number } {
  const enc = new TextEncoder();
  const chunks: { offset: number; bytes: Uint8Array }[] = [];
  const central: Uint8Array[] = [];
  const zip64 = opts.zip64 === true;
  const u32 = (v: number) => (zip64 ? 0xffffffff : v);
  let offset = 0;
  for (const [name, file] of files) {
    const data = file instanceof Uint8Array ? file : { length: file.zeros };
    const crc = file instanceof Uint8Array ? crc32(file) : 0;
    const n = enc.encode(name);
    const local = new Uint8Array(30 + n.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(8, opts.method ?? 0, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, u32(data.length), true);
    lv.setUint32(22, u32(data.length), true);
    lv.setUint16(26, n.length, true);
    local.set(n, 30);
    const extra = zip64 ? 28 : 0;
    const c = new Uint8Array(46 + n.length + extra);
    const cv = new DataView(c.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(10, opts.method ?? 0, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, u32(data.length), true);
    cv.setUint32(24, u32(data.length), true);
    cv.setUint16(28, n.length, true);
    cv.setUint16(30, extra, true);
    cv.setUint32(42, u32(offset), true);
    c.set(n, 46);
    if (zip64) {
      const e = 46 + n.length;
      cv.setUint16(e, 0x0001, true);
      cv.setUint16(e + 2, 24, true);
      cv.setBigUint64(e + 4, BigInt(data.length), true);
      cv.setBigUint64(e + 12, BigInt(data.length), true);
      cv.setBigUint64(e + 20, BigInt(offset), true);
    }
    central.push(c);
    chunks.push({ offset, bytes: local });
    if (file instanceof Uint8Array) chunks.push({ offset: offset + local.length, bytes: file });
    offset += local.length + data.length;
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  const tail: Uint8Array[] = [];
  if (zip64) {
    const record = new Uint8Array(56);
    const rv = new DataView(record.buffer);
    rv.setUint32(0, 0x06064b50, true);
    rv.setBigUint64(4, 44n, true);
    rv.setBigUint64(24, BigInt(files.length), true);
    rv.setBigUint64(32, BigInt(files.length), true);
    rv.setBigUint64(40, BigInt(cdSize), true);
    rv.setBigUint64(48, BigInt(offset), true);
    const locator = new Uint8Array(20);
    const lv = new DataView(locator.buffer);
    lv.setUint32(0, 0x07064b50, true);
    lv.setBigUint64(8, BigInt(offset + cdSize), true);
    lv.setUint32(16, 1, true);
    tail.push(record, locator);
  }
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, zip64 ? 0xffff : files.length, true);
  ev.setUint16(10, zip64 ? 0xffff : files.length, true);
  ev.setUint32(12, u32(cdSize), true);
  ev.setUint32(16, u32(offset), true);
  let o = offset;
  for (const c of [...central, ...tail, eocd]) {
    chunks.push({ offset: o, bytes: c });
    o += c.length;
  }
  return { parts: chunks, size: o };
}

/** float32 values as little-endian bytes. */
export const f32Bytes = (values: number[]): Uint8Array => new Uint8Array(new Float32Array(values).buffer);

/** A torch-style archive: `ckpt/data.pkl` plus `ckpt/data/<key>` storages. */
export function makeCheckpoint(pickle: Uint8Array, storages: Record<string, Uint8Array> = {}, extra: [string, Uint8Array][] = []): Uint8Array {
  return makeZip([
    ['ckpt/data.pkl', pickle],
    ...Object.entries(storages).map(([k, v]) => [`ckpt/data/${k}`, v] as [string, Uint8Array]),
    ['ckpt/version', new TextEncoder().encode('3\n')],
    ...extra,
  ]);
}
