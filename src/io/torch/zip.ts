/**
 * A minimal, defensive ZIP reader for the archives `torch.save` writes
 * (PyTorch ≥ 1.6): stored (uncompressed) entries, optionally ZIP64. Every
 * offset and size is checked against the file; entry bytes are returned as
 * views of the input (no copies) after their CRC-32 is verified.
 *
 * Deflate-compressed entries are refused: torch writes stored entries, and a
 * decompressor is outside what the checkpoint reader needs.
 */
import { CheckpointError } from '../../errors';
import { describeUntrusted } from '../describeUntrusted';

/** One file inside the archive. */
export interface ZipEntry {
  /** Path inside the archive (e.g. `mae_tiny/data/0`). */
  readonly name: string;
  /** Byte offset of the entry's data in the archive. */
  readonly offset: number;
  /** Byte length of the entry's data. */
  readonly size: number;
  /** CRC-32 from the central directory. */
  readonly crc32: number;
}

/** A parsed archive: the entries by name, and checked access to their bytes. */
export interface ZipArchive {
  /** Entries in central-directory order. */
  readonly entries: ReadonlyMap<string, ZipEntry>;
  /** The bytes of an entry (a view into the archive), CRC-checked on first read. */
  read(name: string): Uint8Array;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;

function fail(message: string): never {
  throw new CheckpointError(`zip: ${message}`);
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE, as ZIP uses) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  const table = crcTable;
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Little-endian reads that fail (instead of reading garbage) past the end of the file. */
class Reader {
  private readonly view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(offset: number, length: number, what: string): void {
    if (offset < 0 || offset + length > this.bytes.length) {
      fail(`${what} at byte ${offset} (+${length}) runs past the end of the ${this.bytes.length}-byte file`);
    }
  }
  u16(o: number): number {
    return this.view.getUint16(o, true);
  }
  u32(o: number): number {
    return this.view.getUint32(o, true);
  }
  /** A u64 that must be a safe integer. */
  u64(o: number, what: string): number {
    const high = this.view.getUint32(o + 4, true);
    if (high >= 2 ** 21) fail(`${what} does not fit in 2^53`);
    return high * 4294967296 + this.view.getUint32(o, true);
  }
}

interface Directory {
  count: number;
  offset: number;
  size: number;
  /** Where the directory must end (the start of the ZIP64 record or of the EOCD). */
  limit: number;
}

/** Finds the end-of-central-directory record, scanning back at most 64 KiB + 22 bytes. */
function findEocd(r: Reader): number {
  const len = r.bytes.length;
  if (len < EOCD_SIZE) fail(`file is ${len} bytes, too short for a zip archive (at least 22)`);
  const lowest = Math.max(0, len - EOCD_SIZE - MAX_COMMENT);
  for (let o = len - EOCD_SIZE; o >= lowest; o--) {
    if (r.u32(o) === SIG_EOCD && o + EOCD_SIZE + r.u16(o + 20) === len) return o;
  }
  fail(`no end-of-central-directory record in the last ${len - lowest} bytes (truncated or not a zip file)`);
}

function readDirectory(r: Reader): Directory {
  const eocd = findEocd(r);
  const disk = r.u16(eocd + 4);
  const cdDisk = r.u16(eocd + 6);
  let count = r.u16(eocd + 10);
  let size = r.u32(eocd + 12);
  let offset = r.u32(eocd + 16);
  let limit = eocd;
  if (count === 0xffff || size === 0xffffffff || offset === 0xffffffff || r.u32(Math.max(0, eocd - 20)) === SIG_ZIP64_LOCATOR) {
    const locator = eocd - 20;
    if (locator < 0 || r.u32(locator) !== SIG_ZIP64_LOCATOR) fail('ZIP64 sizes without a ZIP64 end-of-directory locator');
    const record = r.u64(locator + 8, 'ZIP64 end-of-directory offset');
    r.need(record, 56, 'ZIP64 end-of-directory record');
    if (record + 56 > locator || r.u32(record) !== SIG_ZIP64_EOCD) fail(`no ZIP64 end-of-directory record at byte ${record}`);
    if (r.u32(record + 16) !== 0 || r.u32(record + 20) !== 0) fail('multi-disk archives are not supported');
    count = r.u64(record + 32, 'ZIP64 entry count');
    size = r.u64(record + 40, 'ZIP64 directory size');
    offset = r.u64(record + 48, 'ZIP64 directory offset');
    limit = record;
  } else if (disk !== 0 || cdDisk !== 0) {
    fail('multi-disk archives are not supported');
  }
  if (offset + size > limit) {
    fail(`central directory [${offset}, ${offset + size}) runs past its end record at byte ${limit}`);
  }
  if (count * 46 > size) fail(`central directory of ${size} bytes cannot hold ${count} entries`);
  return { count, offset, size, limit };
}

/** Reads the ZIP64 extended-information extra field where a 32-bit field is saturated. */
function applyZip64Extra(
  r: Reader,
  start: number,
  length: number,
  fields: { usize: number; csize: number; local: number },
  name: string,
): void {
  let o = start;
  const end = start + length;
  while (o + 4 <= end) {
    const id = r.u16(o);
    const size = r.u16(o + 2);
    if (o + 4 + size > end) fail(`entry ${describeUntrusted(name)}: extra field runs past its header`);
    if (id === 0x0001) {
      let p = o + 4;
      const take = (what: string): number => {
        if (p + 8 > o + 4 + size) fail(`entry ${describeUntrusted(name)}: ZIP64 extra field too short for the ${what}`);
        const v = r.u64(p, `entry ${describeUntrusted(name)} ZIP64 ${what}`);
        p += 8;
        return v;
      };
      if (fields.usize === 0xffffffff) fields.usize = take('size');
      if (fields.csize === 0xffffffff) fields.csize = take('compressed size');
      if (fields.local === 0xffffffff) fields.local = take('header offset');
      return;
    }
    o += 4 + size;
  }
  if (fields.usize === 0xffffffff || fields.csize === 0xffffffff || fields.local === 0xffffffff) {
    fail(`entry ${describeUntrusted(name)}: 32-bit size or offset saturated but no ZIP64 extra field`);
  }
}

/**
 * Parses a ZIP archive's central directory and local headers.
 *
 * @throws CheckpointError for a truncated or inconsistent archive, encrypted
 *   or compressed entries, duplicate names, or any offset outside the file.
 */
export function openZip(bytes: Uint8Array): ZipArchive {
  const r = new Reader(bytes);
  const dir = readDirectory(r);
  const names = new TextDecoder('utf-8');
  const entries = new Map<string, ZipEntry>();
  let o = dir.offset;
  const dirEnd = dir.offset + dir.size;
  for (let i = 0; i < dir.count; i++) {
    if (o + 46 > dirEnd || r.u32(o) !== SIG_CENTRAL) fail(`central directory entry ${i} at byte ${o} is missing or corrupt`);
    const flags = r.u16(o + 8);
    const method = r.u16(o + 10);
    const crc = r.u32(o + 16);
    const nameLen = r.u16(o + 28);
    const extraLen = r.u16(o + 30);
    const commentLen = r.u16(o + 32);
    if (o + 46 + nameLen + extraLen + commentLen > dirEnd) fail(`central directory entry ${i} runs past the directory`);
    const name = names.decode(bytes.subarray(o + 46, o + 46 + nameLen));
    const fields = { usize: r.u32(o + 24), csize: r.u32(o + 20), local: r.u32(o + 42) };
    applyZip64Extra(r, o + 46 + nameLen, extraLen, fields, name);
    if (flags & 0x41) fail(`entry ${describeUntrusted(name)} is encrypted`);
    if (method === 8) fail(`entry ${describeUntrusted(name)} is deflate-compressed; only stored entries (as torch.save writes) are supported`);
    if (method !== 0) fail(`entry ${describeUntrusted(name)} uses compression method ${method}; only stored entries are supported`);
    if (fields.csize !== fields.usize) fail(`stored entry ${describeUntrusted(name)} has compressed size ${fields.csize} ≠ size ${fields.usize}`);
    if (entries.has(name)) fail(`duplicate entry name ${describeUntrusted(name)}`);
    r.need(fields.local, 30, `local header of ${describeUntrusted(name)}`);
    if (r.u32(fields.local) !== SIG_LOCAL) fail(`entry ${describeUntrusted(name)}: no local header at byte ${fields.local}`);
    const localNameLen = r.u16(fields.local + 26);
    const localExtraLen = r.u16(fields.local + 28);
    const dataStart = fields.local + 30 + localNameLen + localExtraLen;
    if (localNameLen !== nameLen || names.decode(bytes.subarray(fields.local + 30, fields.local + 30 + nameLen)) !== name) {
      fail(`entry ${describeUntrusted(name)}: local header name differs from the central directory`);
    }
    if (dataStart + fields.usize > dir.offset) {
      fail(`entry ${describeUntrusted(name)}: data [${dataStart}, ${dataStart + fields.usize}) runs into the central directory at byte ${dir.offset}`);
    }
    entries.set(name, { name, offset: dataStart, size: fields.usize, crc32: crc });
    o += 46 + nameLen + extraLen + commentLen;
  }
  const checked = new Set<string>();
  return {
    entries,
    read(name: string): Uint8Array {
      const e = entries.get(name);
      if (e === undefined) fail(`no entry ${describeUntrusted(name)}`);
      const data = bytes.subarray(e.offset, e.offset + e.size);
      if (!checked.has(name)) {
        const actual = crc32(data);
        if (actual !== e.crc32) fail(`entry ${describeUntrusted(name)} is corrupt (CRC-32 ${actual.toString(16)} ≠ ${e.crc32.toString(16)})`);
        checked.add(name);
      }
      return data;
    },
  };
}
