/**
 * The `tfjs-mae` command (Node only):
 *
 *   tfjs-mae inspect FILE
 *   tfjs-mae convert IN OUT [--to official|hf|tfjs]
 *
 * Errors print one line, `tfjs-mae: …`, on stderr and exit non-zero; `--verbose`
 * adds the stack. Files are read once, whole, and parsed by the hardened
 * readers: nothing is allocated beyond what the file's own bytes need.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { MAEError } from '../errors';
import { type HostTensor, type HostTensors, HOST_ROWS } from '../io/hostTensor';
import { renameFromHF, renameToHF } from '../io/naming';
import { encodeSafetensors } from '../io/safetensors';
import { parseWeights } from '../io/releases';
import { detectNaming } from '../io/stateDict';

const USAGE = `usage:
  tfjs-mae inspect FILE                         print the format and one line per tensor
  tfjs-mae convert IN OUT [--to official|hf]    .pth or safetensors (official or HF names) → safetensors
  tfjs-mae convert IN OUTDIR --to tfjs          → a tfjs model folder (model.json + weights.bin)
      [--heads N] [--decoder-heads N] [--norm-pix]  what the shapes cannot tell (defaults: the
                                                    official presets' heads, 16 decoder heads, raw pixels)
options: --verbose (stack traces), --help`;

/** A user error: printed as one line with exit code 2 (usage) or 1. */
class CliError extends MAEError {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

interface Loaded {
  format: string;
  tensors: HostTensors;
  notes: string[];
}

/** Reads a weights file, detecting its format from its first bytes. */
export async function loadWeightsFile(path: string): Promise<Loaded> {
  let info;
  try {
    info = await stat(path);
  } catch {
    throw new CliError(`cannot read ${JSON.stringify(path)}: no such file`);
  }
  if (info.isDirectory()) throw new CliError(`${JSON.stringify(path)} is a folder; expected a .pth or .safetensors file`);
  const file = parseWeights(new Uint8Array(await readFile(path)));
  const format =
    file.format === 'safetensors'
      ? 'safetensors'
      : `PyTorch checkpoint (zip, ${file.wrapper === 'none' ? 'a bare state dict' : `state dict under '${file.wrapper}'`})`;
  return { format, tensors: file.tensors, notes: file.warnings };
}

/** `'hf'` when the names are HuggingFace's. */
const namingOf = (names: Iterable<string>): 'official' | 'hf' => detectNaming([...names]);

async function inspect(path: string, out: (line: string) => void): Promise<void> {
  const { format, tensors, notes } = await loadWeightsFile(path);
  let numbers = 0;
  for (const t of tensors.values()) numbers += t.data.length;
  out(`format: ${format}, ${namingOf(tensors.keys())} names, ${tensors.size} tensors, ${numbers.toLocaleString('en-US')} numbers`);
  for (const note of notes) out(`note: ${note}`);
  for (const [name, t] of tensors) out(`${name}\t${t.sourceDtype}\t[${t.shape.join(', ')}]`);
}

function rename(tensors: HostTensors, to: 'official' | 'hf'): HostTensors {
  const from = namingOf(tensors.keys());
  const official = from === 'hf' ? renameFromHF(tensors, HOST_ROWS) : [...tensors];
  return new Map(to === 'hf' ? renameToHF(official, HOST_ROWS) : official);
}

/** Options of `convert`. */
interface ConvertOptions {
  to?: string;
  heads?: number;
  decoderHeads?: number;
  normPix?: boolean;
}

const VALUE_OPTIONS: Record<string, keyof ConvertOptions> = { '--to': 'to', '--heads': 'heads', '--decoder-heads': 'decoderHeads' };

function parseOptions(rest: string[]): { positional: string[]; options: ConvertOptions } {
  const positional: string[] = [];
  const options: Record<string, unknown> = {};
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === '--norm-pix') options.normPix = true;
    else if (a in VALUE_OPTIONS) {
      const v = rest[++i];
      if (v === undefined) throw new CliError(`${a} needs a value (see tfjs-mae --help)`, 2);
      const key = VALUE_OPTIONS[a];
      if (key === 'to') options.to = v;
      else {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1) throw new CliError(`${a} must be a positive integer, got ${JSON.stringify(v)}`, 2);
        options[key] = n;
      }
    } else if (a.startsWith('--')) throw new CliError(`unknown option ${a} (see tfjs-mae --help)`, 2);
    else positional.push(a);
  }
  return { positional, options: options as ConvertOptions };
}

async function convert(input: string, output: string, options: ConvertOptions, out: (line: string) => void): Promise<void> {
  const to = options.to ?? 'official';
  if (to !== 'official' && to !== 'hf' && to !== 'tfjs') {
    throw new CliError(`--to must be official, hf or tfjs, got ${JSON.stringify(to)}`, 2);
  }
  const { tensors, notes } = await loadWeightsFile(input);
  for (const note of notes) out(`note: ${note}`);
  if (to === 'tfjs') {
    const { convertToTfjsFolder } = await import('./toTfjs');
    const hints = { numHeads: options.heads, decoderNumHeads: options.decoderHeads, normPixLoss: options.normPix };
    await convertToTfjsFolder(rename(tensors, 'official'), output, hints, out);
    return;
  }
  const renamed = rename(tensors, to);
  const widened = [...renamed.values()].filter((t: HostTensor) => t.sourceDtype !== 'F32' && t.sourceDtype !== 'I32').length;
  const bytes = encodeSafetensors(renamed, { format: 'pt', converted_by: 'tfjs-mae', naming: to });
  await writeFile(output, bytes);
  out(`wrote ${output}: ${renamed.size} tensors, ${to} names${widened ? `, ${widened} converted to float32/int32` : ''}`);
}

/** Runs the CLI with `argv` (without `node` and the script); returns the exit code. */
export async function main(argv: string[], io = { out: (l: string) => console.log(l), err: (l: string) => console.error(l) }): Promise<number> {
  const verbose = argv.includes('--verbose');
  const args = argv.filter((a) => a !== '--verbose');
  try {
    if (args.length === 0 || args.includes('--help') || args.includes('-h')) {
      io.out(USAGE);
      return args.length === 0 ? 2 : 0;
    }
    const [command, ...rest] = args;
    const { positional, options } = parseOptions(rest);
    if (command === 'inspect' && positional.length === 1 && Object.keys(options).length === 0) {
      await inspect(positional[0], io.out);
      return 0;
    }
    if (command === 'convert' && positional.length === 2) {
      await convert(positional[0], positional[1], options, io.out);
      return 0;
    }
    throw new CliError(`bad arguments: ${args.join(' ')} (see tfjs-mae --help)`, 2);
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e));
    const known = error instanceof MAEError;
    const first = known ? error.message : `${error.name}: ${error.message}`;
    io.err(`tfjs-mae: ${first.replace(/\s*\n\s*/g, ' ')}`);
    if (verbose && error.stack) io.err(error.stack);
    return error instanceof CliError ? error.exitCode : 1;
  }
}
