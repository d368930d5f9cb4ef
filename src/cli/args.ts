/**
 * A small declarative flag parser for the `tfjs-mae` commands.
 *
 * Each command declares its flags as a record keyed by the camelCase name
 * (`maskRatio`); on the command line the flag is `--mask-ratio` or
 * `--mask_ratio` (the official scripts' spelling), written `--flag value` or
 * `--flag=value`. Booleans take no value (`--norm-pix-loss`), or `=true|false`,
 * and `--no-flag` turns them off. Everything after `--` is positional.
 *
 * Every mistake is a {@link UsageError} (exit code 2) whose message names the
 * flag, what was expected and what came.
 */
import { MAEError } from '../errors';

/** A user error: printed as one line with exit code `exitCode` (2 = usage, 1 = anything else). */
export class CliError extends MAEError {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** A command-line mistake (unknown flag, bad value, wrong argument count): exit code 2. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, 2);
  }
}

/** The kinds of value a flag takes. */
export type FlagType = 'string' | 'number' | 'integer' | 'boolean' | 'choice';

/** One flag's declaration. `T` is the parsed value's type (with `undefined` when it has no default). */
export interface FlagSpec<T> {
  type: FlagType;
  /** One line for `--help`. */
  help: string;
  /** The value when the flag is absent; `undefined` = absent means "not given". */
  default?: T;
  /** The allowed values of a `choice` flag. */
  choices?: readonly string[];
  /** Inclusive bounds of a number/integer flag. */
  min?: number;
  max?: number;
  /** The value's name in `--help` (`N`, `FILE`); defaults from the type. */
  metavar?: string;
}

interface Common<T> {
  help: string;
  default?: T;
  metavar?: string;
}
interface Bounds {
  min?: number;
  max?: number;
}

/** Flag constructors: `flag.number({ default: 0.75, help: '…' })`; without a default the value may be `undefined`. */
export const flag = {
  string: ((o: Common<string>) => ({ type: 'string', ...o })) as {
    (o: Common<string> & { default: string }): FlagSpec<string>;
    (o: Common<string>): FlagSpec<string | undefined>;
  },
  number: ((o: Common<number> & Bounds) => ({ type: 'number', ...o })) as {
    (o: Common<number> & Bounds & { default: number }): FlagSpec<number>;
    (o: Common<number> & Bounds): FlagSpec<number | undefined>;
  },
  integer: ((o: Common<number> & Bounds) => ({ type: 'integer', ...o })) as {
    (o: Common<number> & Bounds & { default: number }): FlagSpec<number>;
    (o: Common<number> & Bounds): FlagSpec<number | undefined>;
  },
  /** A switch; absent = `default` (false unless given). */
  boolean(o: { help: string; default?: boolean }): FlagSpec<boolean> {
    return { type: 'boolean', ...o, default: o.default ?? false };
  },
  choice: ((choices: readonly string[], o: Common<string>) => ({ type: 'choice', choices, ...o })) as {
    <C extends string>(choices: readonly C[], o: Common<NoInfer<C>> & { default: NoInfer<C> }): FlagSpec<C>;
    <C extends string>(choices: readonly C[], o: Common<NoInfer<C>>): FlagSpec<C | undefined>;
  },
};

/** A command's flags: camelCase name → declaration. */
export type FlagSpecs = Record<string, FlagSpec<unknown>>;

/** The parsed values of `F`. */
export type FlagValues<F extends FlagSpecs> = { [K in keyof F]: F[K] extends FlagSpec<infer T> ? T : never };

/** A positional argument. `variadic` takes one or more (only the last may be). */
export interface Positional {
  name: string;
  help: string;
  optional?: boolean;
  variadic?: boolean;
}

/** The parsed command line of one command. */
export interface Parsed<F extends FlagSpecs> {
  /** Positional arguments, in order. */
  positionals: string[];
  flags: FlagValues<F>;
  /** The flags given explicitly on the command line (camelCase names). */
  given: Set<keyof F & string>;
}

/** `maskRatio` → `mask-ratio`. */
export const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** `--mask_ratio`, `--mask-ratio` → `mask-ratio`. */
const normalise = (flagName: string): string => flagName.replace(/_/g, '-');

/** The Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/** The candidate nearest to `word` if it is close enough to be a typo (or a prefix), else undefined. */
export function nearest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = c.startsWith(word) || word.startsWith(c) ? Math.min(1, distance(word, c)) : distance(word, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

const list = (xs: readonly string[]): string => (xs.length <= 1 ? xs.join('') : `${xs.slice(0, -1).join(', ')} or ${xs[xs.length - 1]}`);

/** Parses and validates `raw` as the value of `--name`. */
export function parseValue<T>(spec: FlagSpec<T>, name: string, raw: string): T {
  const got = JSON.stringify(raw);
  switch (spec.type) {
    case 'string':
      return raw as T;
    case 'choice': {
      const choices = spec.choices ?? [];
      if (!choices.includes(raw)) throw new UsageError(`--${name} must be ${list(choices)}, got ${got}`);
      return raw as T;
    }
    case 'boolean': {
      if (/^(true|1|yes)$/i.test(raw)) return true as T;
      if (/^(false|0|no)$/i.test(raw)) return false as T;
      throw new UsageError(`--${name} is a switch: give it alone, or =true / =false; got ${got}`);
    }
    case 'number':
    case 'integer': {
      const n = raw.trim() === '' ? NaN : Number(raw);
      const integer = spec.type === 'integer';
      const { min, max } = spec;
      const what =
        (integer ? (min === 1 && max === undefined ? 'a positive integer' : 'an integer') : 'a number') +
        (min !== undefined && !(integer && min === 1 && max === undefined) ? (max !== undefined ? ` in [${min}, ${max}]` : ` ≥ ${min}`) : max !== undefined ? ` ≤ ${max}` : '');
      if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || (min !== undefined && n < min) || (max !== undefined && n > max)) {
        throw new UsageError(`--${name} must be ${what}, got ${got}`);
      }
      return n as T;
    }
  }
}

/**
 * Parses `argv` (the words after the command name) against `flags` and `positionals`.
 * `command` names the command in messages.
 */
export function parseArgs<F extends FlagSpecs>(command: string, argv: readonly string[], flags: F, positionals: readonly Positional[] = []): Parsed<F> {
  const byKebab = new Map<string, string>(Object.keys(flags).map((k) => [kebab(k), k]));
  const values: Record<string, unknown> = {};
  const given = new Set<string>();
  const rest: string[] = [];
  const set = (key: string, flagName: string, value: unknown): void => {
    if (given.has(key)) throw new UsageError(`--${flagName} is given twice`);
    given.add(key);
    values[key] = value;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      rest.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('--') || a === '-') {
      if (/^-[^-\d.]/.test(a)) throw new UsageError(`unknown option ${a} for ${command} (flags are spelled --name; see tfjs-mae ${command} --help)`);
      rest.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const written = eq < 0 ? a.slice(2) : a.slice(2, eq);
    const name = normalise(written);
    let key = byKebab.get(name);
    if (key === undefined && name.startsWith('no-') && flags[byKebab.get(name.slice(3)) ?? '']?.type === 'boolean') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value, got ${JSON.stringify(a.slice(eq + 1))}`);
      key = byKebab.get(name.slice(3))!;
      set(key, name.slice(3), false);
      continue;
    }
    if (key === undefined) {
      const guess = nearest(name, byKebab.keys());
      throw new UsageError(`unknown flag --${written} for ${command}${guess ? `; did you mean --${guess}?` : ''} (see tfjs-mae ${command} --help)`);
    }
    const spec = flags[key];
    if (spec.type === 'boolean') {
      set(key, name, eq < 0 ? true : parseValue(spec, name, a.slice(eq + 1)));
      continue;
    }
    let raw: string | undefined;
    if (eq >= 0) raw = a.slice(eq + 1);
    else {
      raw = argv[i + 1];
      const looksLikeFlag = raw !== undefined && raw.startsWith('--');
      if (raw === undefined || looksLikeFlag) throw new UsageError(`--${name} needs a value${spec.metavar ? ` (${spec.metavar})` : ''}`);
      i++;
    }
    set(key, name, parseValue(spec, name, raw));
  }
  for (const [key, spec] of Object.entries(flags)) if (!given.has(key)) values[key] = spec.default;
  checkPositionals(command, rest, positionals);
  return { positionals: rest, flags: values as FlagValues<F>, given: given as Set<keyof F & string> };
}

function checkPositionals(command: string, rest: string[], positionals: readonly Positional[]): void {
  const required = positionals.filter((p) => !p.optional).length;
  const variadic = positionals.some((p) => p.variadic);
  const names = positionals.map(positionalUsage).join(' ');
  if (rest.length < required) {
    const missing = positionals.slice(rest.length).filter((p) => !p.optional).map((p) => p.name);
    throw new UsageError(`${command} needs ${list(missing)} (usage: tfjs-mae ${command} ${names})`);
  }
  if (!variadic && rest.length > positionals.length) {
    const extra = rest.slice(positionals.length).map((s) => JSON.stringify(s)).join(' ');
    throw new UsageError(`${command} takes ${positionals.length === 0 ? 'no arguments' : names}, got extra ${extra} (usage: tfjs-mae ${command} ${names})`);
  }
}

/** `FILE`, `[OUT]`, `IMAGE...`. */
export function positionalUsage(p: Positional): string {
  const word = p.variadic ? `${p.name}...` : p.name;
  return p.optional ? `[${word}]` : word;
}

/** The `--help` line(s) of one flag: `--mask-ratio X   the fraction … (default 0.75)`. */
export function flagUsage(key: string, spec: FlagSpec<unknown>): { left: string; right: string } {
  const metavar = spec.type === 'boolean' ? '' : ` ${spec.metavar ?? (spec.type === 'choice' ? (spec.choices ?? []).join('|') : spec.type === 'string' ? 'S' : spec.type === 'integer' ? 'N' : 'X')}`;
  const dflt = spec.type === 'boolean' ? (spec.default ? ' (default: on; --no-' + kebab(key) + ' turns it off)' : '') : spec.default === undefined ? '' : ` (default: ${String(spec.default)})`;
  return { left: `--${kebab(key)}${metavar}`, right: `${spec.help}${dflt}` };
}

/** Two aligned columns. */
export function columns(rows: { left: string; right: string }[], indent = '  '): string {
  const width = Math.min(36, Math.max(0, ...rows.map((r) => r.left.length)));
  return rows.map((r) => (r.left.length > width ? `${indent}${r.left}\n${indent}${' '.repeat(width)}  ${r.right}` : `${indent}${r.left.padEnd(width)}  ${r.right}`)).join('\n');
}

/** `--input-size` must split into whole patches (said with the flag's name, not the model's `imgSize`). */
export function checkInputSize(inputSize: number, patchSize: unknown, from: string): void {
  if (typeof patchSize !== 'number' || !(patchSize > 0) || inputSize % patchSize === 0) return;
  const below = inputSize - (inputSize % patchSize);
  const sizes = below > 0 ? `${below} or ${below + patchSize}` : `${patchSize}`;
  throw new UsageError(`--input-size ${inputSize}: expected a multiple of the patch size ${patchSize} (of ${from}), e.g. ${sizes}`);
}

/** The note for `--warmup-epochs` ≥ `--epochs`: allowed, as the official schedule allows it. */
export function warmupOutlastsRun(warmupEpochs: number, epochs: number): string {
  return `note: --warmup-epochs ${warmupEpochs} ≥ --epochs ${epochs}: the warmup never ends, the lr rises linearly to the last step (as the official lr_sched.py)`;
}
