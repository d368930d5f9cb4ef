/**
 * What a `tfjs-mae` command is: a name, a one-line summary, its positional
 * arguments and flags (declared with {@link flag}), and `run`. The dispatcher
 * (main.ts) parses the command line against the declarations, prints `--help`
 * from them, and turns thrown errors into one `tfjs-mae: …` line.
 */
import type { FlagSpecs, Parsed, Positional } from './args';
import { columns, flagUsage, positionalUsage } from './args';

/** Where a command writes: one call per line (or block of lines). */
export interface CliIO {
  out(line: string): void;
  err(line: string): void;
  /** `out` is a terminal: progress may rewrite one line in place. Defaults to false. */
  tty?: boolean;
}

/** One command of `tfjs-mae`. */
export interface Command<F extends FlagSpecs = FlagSpecs> {
  name: string;
  /** One line for `tfjs-mae --help`. */
  summary: string;
  /** Extra paragraphs for `tfjs-mae NAME --help` (optional). */
  description?: string;
  positionals: readonly Positional[];
  flags: F;
  /** Runs the command; returns the exit code (default 0). Throw a `CliError`/`MAEError` to fail with one line. */
  run(args: Parsed<F>, io: CliIO): Promise<number | void>;
}

/** Declares a command (only here so `F` is inferred from `flags`). */
export function defineCommand<F extends FlagSpecs>(command: Command<F>): Command<F> {
  return command;
}

/** Flags every command takes, handled by the dispatcher. */
export const COMMON_FLAGS = [
  { left: '--verbose', right: 'print stack traces with errors' },
  { left: '--help, -h', right: 'this help' },
];

/** `tfjs-mae NAME --help`. */
export function commandUsage(command: Command): string {
  const lines = [`usage: tfjs-mae ${command.name} ${command.positionals.map(positionalUsage).join(' ')}${Object.keys(command.flags).length ? ' [flags]' : ''}`.trimEnd(), '', command.summary];
  if (command.description) lines.push('', command.description.trim());
  if (command.positionals.length) lines.push('', 'arguments:', columns(command.positionals.map((p) => ({ left: positionalUsage(p), right: p.help }))));
  const flags = Object.entries(command.flags).map(([key, spec]) => flagUsage(key, spec));
  lines.push('', 'flags:', columns([...flags, ...COMMON_FLAGS]));
  lines.push('', 'Flags are also accepted with underscores (--mask_ratio) and as --flag=value.');
  return lines.join('\n');
}
