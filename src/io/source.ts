/**
 * Where pretrained weights come from, isomorphically: an http(s) URL (fetch),
 * a local path (Node, `node:fs` imported lazily), a `Blob`/`File` (browser),
 * bytes in memory, or the files of a HuggingFace model folder
 * (`config.json` + `model.safetensors`) given as any of these.
 *
 * Whole files are read by {@link readSourceBytes} only, the one place to
 * swap for a bounded-memory range reader.
 */
import { CheckpointError, describe } from '../errors';
import { nodeFs } from './nodeFolder';

/** Bytes in memory, or a `Blob` / `File` (e.g. dropped on a page). */
export type BytesSource = Blob | ArrayBuffer | Uint8Array;

/** The files of a model given one by one (e.g. an HF folder dropped on a page). */
export interface PretrainedFiles {
  /** The weights: safetensors (ours, official or HF names) or an official `.pth`. */
  weights: BytesSource;
  /** The HF `config.json`: parsed, its text, or its bytes. Defaults to none. */
  config?: unknown;
  /** A name for messages. Defaults to `'the weights'` (or the `File`'s name). */
  name?: string;
}

/**
 * What `fromPretrained` reads:
 * - a string: an `http(s)://` URL, a `file://` URL or a local path (Node); in a browser, any other string is fetched as a URL.
 *   A folder (or a URL whose last segment has no weights extension) is an HF model folder: `config.json` (optional) and
 *   `model.safetensors` (else `pytorch_model.bin`).
 * - a `URL`, a `Blob`/`File`, an `ArrayBuffer` or a `Uint8Array`: one weights file;
 * - {@link PretrainedFiles}: the weights plus an HF `config.json`.
 */
export type PretrainedSource = string | URL | BytesSource | PretrainedFiles;

/** How to read a source. */
export interface SourceOptions {
  /** The `fetch` to use for URLs. Defaults to `globalThis.fetch`. */
  fetch?: typeof fetch;
}

/** A source read into memory. */
export interface SourceFiles {
  /** The weights file's path or URL (or the given name), for messages. */
  name: string;
  /** The weights file. */
  weights: Uint8Array;
  /** The parsed HF `config.json`, when there is one. */
  hfConfig?: unknown;
}

/** File names tried, in order, in a model folder. */
export const FOLDER_WEIGHTS_FILES = ['model.safetensors', 'pytorch_model.bin'] as const;
/** The HF config file of a model folder. */
export const HF_CONFIG_FILE = 'config.json';

const WEIGHTS_EXTENSION = /\.(safetensors|pth|pt|bin|ckpt)$/i;

const isUrl = (s: string): boolean => /^(https?|blob|data):/i.test(s);
const inNode = (): boolean => typeof process !== 'undefined' && typeof process.versions?.node === 'string';
const join = (dir: string, file: string): string => (/[/\\]$/.test(dir) ? `${dir}${file}` : `${dir}/${file}`);

class NotFound extends CheckpointError {}

/** The name of a `File`, if the source is one. */
function fileName(source: unknown): string | undefined {
  const name = (source as { name?: unknown }).name;
  return typeof name === 'string' && name.length > 0 ? name : undefined;
}

async function bytesOf(source: BytesSource): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  return new Uint8Array(await source.arrayBuffer());
}

/**
 * The bytes of one file: an URL through `fetch`, else a local path through
 * `node:fs`. (The one place whole files are read.)
 *
 * @throws CheckpointError naming the file when it cannot be read (404, no such file)
 */
export async function readSourceBytes(location: string, options: SourceOptions = {}): Promise<Uint8Array> {
  if (isUrl(location) || !inNode()) {
    const doFetch = options.fetch ?? globalThis.fetch;
    if (typeof doFetch !== 'function') throw new CheckpointError(`cannot fetch ${describe(location)}: no fetch (pass options.fetch)`);
    let response: Response;
    try {
      response = await doFetch(location);
    } catch (e) {
      throw new CheckpointError(`cannot fetch ${describe(location)}: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (response.status === 404) throw new NotFound(`cannot fetch ${describe(location)}: HTTP 404`);
    if (!response.ok) throw new CheckpointError(`cannot fetch ${describe(location)}: HTTP ${response.status} ${response.statusText}`);
    return new Uint8Array(await response.arrayBuffer());
  }
  const fs = await nodeFs(`cannot read the local path ${describe(location)} outside Node; pass a URL, a Blob or the bytes`);
  try {
    return new Uint8Array(await fs.readFile(location));
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ENOENT') throw new NotFound(`cannot read ${describe(location)}: no such file`);
    throw new CheckpointError(`cannot read ${describe(location)}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

async function isLocalFolder(path: string): Promise<boolean> {
  const fs = await nodeFs();
  try {
    return (await fs.stat(path)).isDirectory();
  } catch {
    throw new CheckpointError(`cannot read ${describe(path)}: no such file or folder`);
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

async function readFolder(folder: string, options: SourceOptions): Promise<SourceFiles> {
  let hfConfig: unknown;
  const configName = join(folder, HF_CONFIG_FILE);
  try {
    hfConfig = parseConfig(await readSourceBytes(configName, options), configName);
  } catch (e) {
    if (!(e instanceof NotFound)) throw e;
  }
  for (const file of FOLDER_WEIGHTS_FILES) {
    const name = join(folder, file);
    try {
      return { name, weights: await readSourceBytes(name, options), ...(hfConfig === undefined ? {} : { hfConfig }) };
    } catch (e) {
      if (!(e instanceof NotFound)) throw e;
    }
  }
  throw new CheckpointError(`model folder ${describe(folder)} has no weights file (looked for ${FOLDER_WEIGHTS_FILES.join(', ')})`);
}

/**
 * Reads a {@link PretrainedSource} into memory: the weights' bytes, the HF
 * `config.json` when the source is a folder that has one, and a name for messages.
 */
export async function readPretrainedSource(source: PretrainedSource, options: SourceOptions = {}): Promise<SourceFiles> {
  if (source instanceof URL) return readPretrainedSource(source.href, options);
  if (typeof source === 'string') {
    if (source.length === 0) throw new CheckpointError('source must be a path, a URL, a Blob or bytes, got ""');
    if (/^file:/i.test(source)) return readPretrainedSource(decodeURIComponent(new URL(source).pathname), options);
    const url = isUrl(source) || !inNode();
    const folder = url ? !WEIGHTS_EXTENSION.test(new URL(source, 'http://x/').pathname) : await isLocalFolder(source);
    if (folder) return readFolder(source.replace(/[/\\]+$/, ''), options);
    return { name: source, weights: await readSourceBytes(source, options) };
  }
  if (source instanceof Uint8Array || source instanceof ArrayBuffer || (typeof Blob !== 'undefined' && source instanceof Blob)) {
    return { name: fileName(source) ?? 'the weights', weights: await bytesOf(source as BytesSource) };
  }
  if (source !== null && typeof source === 'object' && 'weights' in source) {
    const files = source;
    const name = files.name ?? fileName(files.weights) ?? 'the weights';
    const config = typeof Blob !== 'undefined' && files.config instanceof Blob ? await bytesOf(files.config) : files.config;
    const hfConfig = parseConfig(config, `${name} config.json`);
    return { name, weights: await bytesOf(files.weights), ...(hfConfig === undefined ? {} : { hfConfig }) };
  }
  throw new CheckpointError(`source must be a path, a URL, a Blob, an ArrayBuffer, a Uint8Array or { weights, config }, got ${describe(source)}`);
}
