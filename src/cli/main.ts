/**
 * The `tfjs-mae` command (Node only): the dispatcher.
 *
 *   tfjs-mae COMMAND [ARGS] [--flags]     run a command (see commands/)
 *   tfjs-mae COMMAND --help               its usage, every flag and default
 *   tfjs-mae --help | --version
 *
 * Errors print one line, `tfjs-mae: …`, on stderr: exit 2 for a usage
 * mistake, 1 for anything else; `--verbose` adds the stack.
 */
import { version } from '../../package.json';
import { MAEError } from '../errors';
import { CliError, UsageError, columns, nearest, parseArgs } from './args';
import { type CliIO, COMMON_FLAGS, commandUsage } from './command';
import { COMMANDS } from './commands';

/** `tfjs-mae --help`. */
export function usage(): string {
  return [
    'usage: tfjs-mae COMMAND [ARGS] [flags]',
    '',
    'commands:',
    columns(COMMANDS.map((c) => ({ left: c.name, right: c.summary }))),
    '',
    'flags:',
    columns([...COMMON_FLAGS, { left: '--version', right: 'print the version' }]),
    '',
    "Run 'tfjs-mae COMMAND --help' for a command's arguments, flags and defaults.",
  ].join('\n');
}

const defaultIO: CliIO = { out: (l) => console.log(l), err: (l) => console.error(l), tty: process.stdout.isTTY === true };

/** Runs the CLI with `argv` (without `node` and the script); returns the exit code. */
export async function main(argv: string[], io: CliIO = defaultIO): Promise<number> {
  const verbose = argv.includes('--verbose');
  const args = argv.filter((a) => a !== '--verbose');
  try {
    const [name, ...rest] = args;
    if (name === undefined) {
      io.out(usage());
      return 2;
    }
    if (name === '--help' || name === '-h' || name === 'help') {
      io.out(usage());
      return 0;
    }
    if (name === '--version' || name === '-V' || name === 'version') {
      io.out(version);
      return 0;
    }
    const command = COMMANDS.find((c) => c.name === name);
    if (!command) {
      const guess = nearest(name, COMMANDS.map((c) => c.name));
      const what = name.startsWith('-') ? `unknown flag ${name} before a command` : `unknown command ${JSON.stringify(name)}`;
      throw new UsageError(`${what}${guess ? `; did you mean ${guess}?` : ''} (commands: ${COMMANDS.map((c) => c.name).join(', ')}; see tfjs-mae --help)`);
    }
    const end = rest.indexOf('--');
    const beforeEnd = end < 0 ? rest : rest.slice(0, end);
    if (beforeEnd.includes('--help') || beforeEnd.includes('-h')) {
      io.out(commandUsage(command));
      return 0;
    }
    const parsed = parseArgs(command.name, rest, command.flags, command.positionals);
    return (await command.run(parsed, io)) ?? 0;
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e));
    const known = error instanceof MAEError;
    const first = known ? error.message : `${error.name}: ${error.message}`;
    io.err(`tfjs-mae: ${first.replace(/\s*\n\s*/g, ' ')}`);
    if (verbose && error.stack) io.err(error.stack);
    return error instanceof CliError ? error.exitCode : 1;
  }
}
