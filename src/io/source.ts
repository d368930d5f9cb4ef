/**
 * Where pretrained weights come from, isomorphically: an http(s) URL (Range
 * requests when the server honours them, else one streamed download), a
 * local path (Node: a file handle, `node:fs` imported lazily), a
 * `Blob`/`File` (browser: `Blob.slice`), bytes in memory, any
 * {@link ByteSource}, or the files of a HuggingFace model folder
 * (`config.json` + `model.safetensors`) given as any of these.
 *
 * The weights are opened as a {@link ByteSource}, never read whole: the
 * loader reads the header, then one tensor at a time, so files over 2 GiB
 * load in bounded memory.
 */
import { CheckpointError, describe } from '../errors';
import { type ByteSource, SourceNotFound, blobSource, bytesSource, urlSource } from './byteSource';
import { fileSource } from './fileSource';
import { nodeFs } from './nodeFolder';

/** Bytes in memory, or a `Blob` / `File` (e.g. dropped on a page). */
export type BytesSource = Blob | ArrayBuffer | Uint8Array;

/** The files of a model given one by one (e.g. an HF folder dropped on a page). */
export interface PretrainedFiles {
  /** The weights: safetensors (ours, official or HF names) or an official `.pth`; a `Blob` is read by slices. */
  weights: BytesSource | ByteSource;
  /** The HF `config.json`: parsed, its text, its bytes or a `Blob`. Defaults to none. */
  config?: unknown;
  /** A name for messages. Defaults to `'the weights'` (or the `File`'s / source's name). */
  name?: string;
}

/**
 * What `fromPretrained` reads:
 * - a string: an `http(s)://` URL, a `file://` URL or a local path (Node); in a browser, any other string is fetched as a URL.
 *   A folder (or a URL whose last segment has no weights extension) is an HF model folder: `config.json` (optional) and
 *   `model.safetensors` (else `pytorch_model.bin`).
 * - a `URL`, a `Blob`/`File`, an `ArrayBuffer`, a `Uint8Array` or a {@link ByteSource}: one weights file;
 * - {@link PretrainedFiles}: the weights plus an HF `config.json`.
 */
export type PretrainedSource = string | URL | BytesSource | ByteSource | PretrainedFiles;

/** How to read a source. */
export interface SourceOptions {
  /** The `fetch` to use for URLs. Defaults to `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Extra request headers for URLs (e.g. an authorization). Defaults to none. */
  headers?: Record<string, string>;
  /**
   * Progress of reading the weights file: bytes read so far and the file
   * size (`undefined` when a server sent no length). A server without Range
   * support reports its download; every other source reports the tensor
   * bytes read as they are loaded. Defaults to none.
   */
  onProgress?: (loaded: number, total: number | undefined) => void;
}

/** A source opened for reading by ranges. Close `weights` when done (`withSource`). */
export interface OpenedSource {
  /** The weights file's path or URL (or the given name), for messages. */
  name: string;
  /** The weights file, read by ranges. */
  weights: ByteSource;
  /** The parsed HF `config.json`, when there is one. */
  hfConfig?: unknown;
}

/** File names tried, in order, in a model folder. */
export const FOLDER_WEIGHTS_FILES = ['model.safetensors', 'pytorch_model.bin'] as const;
/** The HF config file of a model folder. */
export const HF_CONFIG_FILE = 'config.json';

/** The largest `config.json` read (it is a few hundred bytes; anything huge is not one). */
const MAX_CONFIG_BYTES = 16 * 2 ** 20;

const WEIGHTS_EXTENSION = /\.(safetensors|pth|pt|bin|ckpt)$/i;

const isUrl = (s: string): boolean => /^(https?|blob|data):/i.test(s);
const inNode = (): boolean => typeof process !== 'undefined' && typeof process.versions?.node === 'string';
const join = (dir: string, file: string): string => (/[/\\]$/.test(dir) ? `${dir}${file}` : `${dir}/${file}`);

/** The name of a `File` (or a byte source), if the source has one. */
function nameOf(source: unknown): string | undefined {
  const name = (source as { name?: unknown }).name;
  return typeof name === 'string' && name.length > 0 ? name : undefined;
}

function isByteSource(value: unknown): value is ByteSource {
  const s = value as Partial<ByteSource> | null;
  return s !== null && typeof s === 'object' && typeof s.read === 'function' && typeof s.size === 'number' && typeof s.name === 'string';
}

function isBytes(value: unknown): value is BytesSource {
  return value instanceof Uint8Array || value instanceof ArrayBuffer || (typeof Blob !== 'undefined' && value instanceof Blob);
}

/** Bytes, a `Blob` or a byte source as a byte source (no copy; a `Blob` is read by slices). */
function sourceOf(value: BytesSource | ByteSource, name: string | undefined): ByteSource {
  if (isByteSource(value)) return name === undefined || name === value.name ? value : { ...value, name, read: value.read.bind(value), close: value.close?.bind(value) };
  if (value instanceof Uint8Array) return bytesSource(value, name ?? 'the weights');
  if (value instanceof ArrayBuffer) return bytesSource(new Uint8Array(value), name ?? 'the weights');
  return blobSource(value, name ?? nameOf(value) ?? 'the weights');
}

/**
 * `source`, reporting the bytes read so far through `onProgress(loaded,
 * total)` after every read (for a progress bar; `loaded` never passes the size).
 */
export function countingSource(source: ByteSource, onProgress: (loaded: number, total: number) => void): ByteSource {
  let loaded = 0;
  return {
    name: source.name,
    size: source.size,
    async read(offset, length) {
      const bytes = await source.read(offset, length);
      loaded = Math.min(source.size, loaded + bytes.length);
      onProgress(loaded, source.size);
      return bytes;
    },
    close: source.close?.bind(source),
  };
}

/**
 * One file as a byte source: a URL through {@link urlSource} (Range
 * requests when honoured, else a streamed download), a local path (Node)
 * through a file handle.
 *
 * @throws CheckpointError naming the file when it cannot be opened (404, no such file)
 */
export async function openLocation(location: string, options: SourceOptions = {}): Promise<ByteSource> {
  if (isUrl(location) || !inNode()) {
    let downloaded = false;
    const onProgress = options.onProgress;
    const source = await urlSource(location, {
      fetch: options.fetch,
      headers: options.headers,
      onProgress: onProgress && ((loaded, total) => ((downloaded = true), onProgress(loaded, total))),
    });
    return onProgress && !downloaded ? countingSource(source, onProgress) : source;
  }
  const source = await fileSource(location);
  return options.onProgress ? countingSource(source, options.onProgress) : source;
}

async function isLocalFolder(path: string): Promise<boolean> {
  const fs = await nodeFs(`cannot read the local path ${describe(path)} outside Node; pass a URL, a Blob or the bytes`);
  try {
    return (await fs.stat(path)).isDirectory();
  } catch {
    throw new SourceNotFound(`cannot read ${describe(path)}: no such file or folder`);
  }
}

function parseConfig(value: unknown, name: string): unknown {
  if (value === undefined) return undefined;
  const text = typeof value === 'string' ? value : value instanceof Uint8Array ? new TextDecoder().decode(value) : undefined;
  if (text === undefined) return value;
  try {
    return JSON.parse(text);
  } catch {
    throw new CheckpointError(`${name}: not valid JSON`);
  }
}

/** The whole of a small file (a `config.json`), refusing big ones. */
async function readSmall(source: ByteSource): Promise<Uint8Array> {
  try {
    if (source.size > MAX_CONFIG_BYTES) throw new CheckpointError(`${source.name}: ${source.size} bytes is too big for a config.json (at most ${MAX_CONFIG_BYTES})`);
    return await source.read(0, source.size);
  } finally {
    await source.close?.();
  }
}

async function openFolder(folder: string, options: SourceOptions): Promise<OpenedSource> {
  let hfConfig: unknown;
  const configName = join(folder, HF_CONFIG_FILE);
  try {
    hfConfig = parseConfig(await readSmall(await openLocation(configName, { fetch: options.fetch, headers: options.headers })), configName);
  } catch (e) {
    if (!(e instanceof SourceNotFound)) throw e;
  }
  for (const file of FOLDER_WEIGHTS_FILES) {
    const name = join(folder, file);
    try {
      return { name, weights: await openLocation(name, options), ...(hfConfig === undefined ? {} : { hfConfig }) };
    } catch (e) {
      if (!(e instanceof SourceNotFound)) throw e;
    }
  }
  throw new CheckpointError(`model folder ${describe(folder)} has no weights file (looked for ${FOLDER_WEIGHTS_FILES.join(', ')})`);
}

/**
 * Opens a {@link PretrainedSource} for reading by ranges: the weights as a
 * {@link ByteSource} (nothing read yet), the HF `config.json` when the source
 * is a folder that has one, and a name for messages. The caller closes
 * `weights` (`withSource`).
 *
 * @throws CheckpointError naming the file or folder when it cannot be opened
 */
export async function openPretrainedSource(source: PretrainedSource, options: SourceOptions = {}): Promise<OpenedSource> {
  if (source instanceof URL) return openPretrainedSource(source.href, options);
  if (typeof source === 'string') {
    if (source.length === 0) throw new CheckpointError('source must be a path, a URL, a Blob or bytes, got ""');
    if (/^file:/i.test(source)) return openPretrainedSource(decodeURIComponent(new URL(source).pathname), options);
    const url = isUrl(source) || !inNode();
    const folder = url ? !WEIGHTS_EXTENSION.test(new URL(source, 'http://x/').pathname) : await isLocalFolder(source);
    if (folder) return openFolder(source.replace(/[/\\]+$/, ''), options);
    return { name: source, weights: await openLocation(source, options) };
  }
  const withProgress = (s: ByteSource): ByteSource => (options.onProgress ? countingSource(s, options.onProgress) : s);
  if (isBytes(source) || isByteSource(source)) {
    const weights = withProgress(sourceOf(source, undefined));
    return { name: weights.name, weights };
  }
  if (source !== null && typeof source === 'object' && 'weights' in source && (isBytes(source.weights) || isByteSource(source.weights))) {
    const files = source;
    const weights = withProgress(sourceOf(files.weights, files.name));
    const config = typeof Blob !== 'undefined' && files.config instanceof Blob ? new Uint8Array(await files.config.arrayBuffer()) : files.config;
    const hfConfig = parseConfig(config, `${weights.name} config.json`);
    return { name: weights.name, weights, ...(hfConfig === undefined ? {} : { hfConfig }) };
  }
  throw new CheckpointError(`source must be a path, a URL, a Blob, an ArrayBuffer, a Uint8Array, a ByteSource or { weights, config }, got ${describe(source)}`);
}
