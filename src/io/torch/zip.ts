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
import type { ByteSource } from '../byteSource';
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

let crcTables: Uint32Array | undefined;

/**
 * Eight 256-entry tables for CRC-32 by eight bytes at a time ("slicing by
 * 8"): table 0 is the byte-wise table, table k advances a byte through k more zero bytes.
 */
function crcTablesOnce(): Uint32Array {
  if (crcTables !== undefined) return crcTables;
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 8; k++) t[256 * k + n] = (t[256 * (k - 1) + n] >>> 8) ^ t[t[256 * (k - 1) + n] & 0xff];
  }
  return (crcTables = t);
}

/** CRC-32 (IEEE, as ZIP uses) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  const t = crcTablesOnce();
  let c = 0xffffffff;
  let i = 0;
  const whole = bytes.length - (bytes.length % 8);
  for (; i < whole; i += 8) {
    const a = (c ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24))) >>> 0;
    const b = bytes[i + 4] | (bytes[i + 5] << 8) | (bytes[i + 6] << 16) | (bytes[i + 7] << 24);
    c =
      t[1792 + (a & 0xff)] ^ t[1536 + ((a >>> 8) & 0xff)] ^ t[1280 + ((a >>> 16) & 0xff)] ^ t[1024 + (a >>> 24)] ^
      t[768 + (b & 0xff)] ^ t[512 + ((b >>> 8) & 0xff)] ^ t[256 + ((b >>> 16) & 0xff)] ^ t[b >>> 24];
  }
  for (; i < bytes.length; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * Little-endian reads of a `size`-byte file of which some windows are in
 * memory (the whole file, or the ranges a reader by ranges fetched). Reads
 * past the end of the file fail as a corrupt archive; the parsing steps
 * below only touch bytes their driver fetched for them.
 */
interface Window {
  start: number;
  bytes: Uint8Array;
  view: DataView;
}

class Reader {
  private readonly windows: Window[] = [];
  constructor(readonly size: number) {}
  /** Adds the bytes of `[start, start + bytes.length)`. */
  add(start: number, bytes: Uint8Array): this {
    this.windows.push({ start, bytes, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength) });
    return this;
  }
  /** True when `[offset, offset + length)` lies in one window. */
  has(offset: number, length: number): boolean {
    return this.windows.some((w) => offset >= w.start && offset + length <= w.start + w.bytes.length);
  }
  need(offset: number, length: number, what: string): void {
    if (offset < 0 || offset + length > this.size) {
      fail(`${what} at byte ${offset} (+${length}) runs past the end of the ${this.size}-byte file`);
    }
  }
  private at(o: number, length: number): { w: Window; i: number } {
    for (let k = this.windows.length - 1; k >= 0; k--) {
      const w = this.windows[k];
      if (o >= w.start && o + length <= w.start + w.bytes.length) return { w, i: o - w.start };
    }
    // A read past the end of the file is the archive's fault; inside it, the driver's.
    if (o < 0 || o + length > this.size) fail(`read at byte ${o} (+${length}) runs past the end of the ${this.size}-byte file`);
    throw new Error(`zip: internal error: bytes [${o}, ${o + length}) were not fetched`);
  }
  u16(o: number): number {
    const { w, i } = this.at(o, 2);
    return w.view.getUint16(i, true);
  }
  u32(o: number): number {
    const { w, i } = this.at(o, 4);
    return w.view.getUint32(i, true);
  }
  /** A u64 that must be a safe integer. */
  u64(o: number, what: string): number {
    const high = this.u32(o + 4);
    if (high >= 2 ** 21) fail(`${what} does not fit in 2^53`);
    return high * 4294967296 + this.u32(o);
  }
  /** Up to `length` bytes at `o`, clipped at the end of the file (a view). */
  bytes(o: number, length: number): Uint8Array {
    const clipped = Math.max(0, Math.min(length, this.size - o));
    const { w, i } = this.at(o, clipped);
    return w.bytes.subarray(i, i + clipped);
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
  const len = r.size;
  if (len < EOCD_SIZE) fail(`file is ${len} bytes, too short for a zip archive (at least 22)`);
  const lowest = Math.max(0, len - EOCD_SIZE - MAX_COMMENT);
  for (let o = len - EOCD_SIZE; o >= lowest; o--) {
    if (r.u32(o) === SIG_EOCD && o + EOCD_SIZE + r.u16(o + 20) === len) return o;
  }
  fail(`no end-of-central-directory record in the last ${len - lowest} bytes (truncated or not a zip file)`);
}

/**
 * Where the ZIP64 end record should be, if the tail (in `r`) has a ZIP64
 * locator: the one position outside the tail {@link readDirectory} reads,
 * so a reader by ranges can fetch it first. Checks are left to readDirectory.
 */
function zip64RecordOffset(r: Reader): number | undefined {
  const eocd = findEocd(r);
  const locator = eocd - 20;
  if (locator < 0 || r.u32(locator) !== SIG_ZIP64_LOCATOR || r.u32(locator + 12) >= 2 ** 21) return undefined;
  const record = r.u32(locator + 12) * 4294967296 + r.u32(locator + 8);
  return record + 56 <= locator ? record : undefined;
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

/** A central-directory entry, before its local header is checked. */
interface CentralEntry {
  name: string;
  crc: number;
  size: number;
  local: number;
  nameLen: number;
}

/** Reads and checks the central directory's entries (the directory's bytes must be in `r`). */
function readCentralEntries(r: Reader, dir: Directory): CentralEntry[] {
  const names = new TextDecoder('utf-8');
  const out: CentralEntry[] = [];
  const seen = new Set<string>();
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
    const name = names.decode(r.bytes(o + 46, nameLen));
    const fields = { usize: r.u32(o + 24), csize: r.u32(o + 20), local: r.u32(o + 42) };
    applyZip64Extra(r, o + 46 + nameLen, extraLen, fields, name);
    if (flags & 0x41) fail(`entry ${describeUntrusted(name)} is encrypted`);
    if (method === 8) fail(`entry ${describeUntrusted(name)} is deflate-compressed; only stored entries (as torch.save writes) are supported`);
    if (method !== 0) fail(`entry ${describeUntrusted(name)} uses compression method ${method}; only stored entries are supported`);
    if (fields.csize !== fields.usize) fail(`stored entry ${describeUntrusted(name)} has compressed size ${fields.csize} ≠ size ${fields.usize}`);
    if (seen.has(name)) fail(`duplicate entry name ${describeUntrusted(name)}`);
    seen.add(name);
    out.push({ name, crc, size: fields.usize, local: fields.local, nameLen });
    o += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

/** Bytes of a local header that {@link checkLocalHeader} reads (fixed part and name). */
function localHeaderLength(c: CentralEntry): number {
  return 30 + c.nameLen;
}

/** Checks an entry's local header (its bytes must be in `r`) and returns where the data is. */
function checkLocalHeader(r: Reader, c: CentralEntry, dir: Directory): ZipEntry {
  const { name, local } = c;
  r.need(local, 30, `local header of ${describeUntrusted(name)}`);
  if (r.u32(local) !== SIG_LOCAL) fail(`entry ${describeUntrusted(name)}: no local header at byte ${local}`);
  const localNameLen = r.u16(local + 26);
  const localExtraLen = r.u16(local + 28);
  const dataStart = local + 30 + localNameLen + localExtraLen;
  if (localNameLen !== c.nameLen || new TextDecoder('utf-8').decode(r.bytes(local + 30, c.nameLen)) !== name) {
    fail(`entry ${describeUntrusted(name)}: local header name differs from the central directory`);
  }
  if (dataStart + c.size > dir.offset) {
    fail(`entry ${describeUntrusted(name)}: data [${dataStart}, ${dataStart + c.size}) runs into the central directory at byte ${dir.offset}`);
  }
  return { name, offset: dataStart, size: c.size, crc32: c.crc };
}

/** Fails unless `data` (the whole entry) has the CRC-32 the directory records. */
export function checkEntryCrc(entry: ZipEntry, data: Uint8Array): void {
  const actual = crc32(data);
  if (actual !== entry.crc32) fail(`entry ${describeUntrusted(entry.name)} is corrupt (CRC-32 ${actual.toString(16)} ≠ ${entry.crc32.toString(16)})`);
}

/**
 * Parses a ZIP archive's central directory and local headers.
 *
 * @throws CheckpointError for a truncated or inconsistent archive, encrypted
 *   or compressed entries, duplicate names, or any offset outside the file.
 */
export function openZip(bytes: Uint8Array): ZipArchive {
  const r = new Reader(bytes.length).add(0, bytes);
  const dir = readDirectory(r);
  const entries = new Map<string, ZipEntry>();
  for (const c of readCentralEntries(r, dir)) entries.set(c.name, checkLocalHeader(r, c, dir));
  const checked = new Set<string>();
  return {
    entries,
    read(name: string): Uint8Array {
      const e = entries.get(name);
      if (e === undefined) fail(`no entry ${describeUntrusted(name)}`);
      const data = bytes.subarray(e.offset, e.offset + e.size);
      if (!checked.has(name)) {
        checkEntryCrc(e, data);
        checked.add(name);
      }
      return data;
    },
  };
}

/** An archive read by ranges: the entries by name, and each entry's bytes on demand. */
export interface ZipSource {
  /** Entries in central-directory order. */
  readonly entries: ReadonlyMap<string, ZipEntry>;
  /** The bytes of an entry, read from the source and CRC-checked on every read. */
  read(name: string): Promise<Uint8Array>;
}

/** Local headers fetched at once (a URL source makes one request for each). */
const LOCAL_HEADER_BATCH = 16;

/**
 * Parses a ZIP archive read by ranges: the end records from the tail, the
 * central directory, each local header — the same checks as {@link openZip}.
 * Entry data is read only when asked for.
 */
export async function openZipSource(source: ByteSource): Promise<ZipSource> {
  const r = new Reader(source.size);
  const tail = Math.min(source.size, EOCD_SIZE + MAX_COMMENT + 20);
  r.add(source.size - tail, await source.read(source.size - tail, tail));
  const record = zip64RecordOffset(r);
  if (record !== undefined && !r.has(record, 56)) r.add(record, await source.read(record, 56));
  const dir = readDirectory(r);
  r.add(dir.offset, await source.read(dir.offset, dir.size));
  const central = readCentralEntries(r, dir);
  const entries = new Map<string, ZipEntry>();
  for (let i = 0; i < central.length; i += LOCAL_HEADER_BATCH) {
    const batch = central.slice(i, i + LOCAL_HEADER_BATCH);
    const windows = await Promise.all(
      batch.map((c) => (c.local + 30 <= source.size ? source.read(c.local, Math.min(localHeaderLength(c), source.size - c.local)) : undefined)),
    );
    batch.forEach((c, k) => {
      const w = windows[k];
      entries.set(c.name, checkLocalHeader(w === undefined ? r : new Reader(source.size).add(c.local, w), c, dir));
    });
  }
  return {
    entries,
    async read(name: string): Promise<Uint8Array> {
      const e = entries.get(name);
      if (e === undefined) fail(`no entry ${describeUntrusted(name)}`);
      const data = await source.read(e.offset, e.size);
      checkEntryCrc(e, data);
      return data;
    },
  };
}
