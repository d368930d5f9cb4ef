/**
 * The wasm pre-flight of the training commands: before the first step, the
 * model plus a training batch (AdamW state, activations) is checked against
 * the wasm heap (`checkWasmMemory`), so an impossible run stops at once with
 * what to change on the command line instead of a `memory access out of
 * bounds` from inside a kernel.
 */
import { MAEMemoryError } from '../errors';
import { checkWasmMemory, type MemoryModelConfig } from '../model/memory';
import { CliError } from './args';

/** Environment variable: the heap bytes the pre-flight assumes instead of wasm's 4 GiB (e.g. to leave room for something else). */
export const WASM_HEAP_LIMIT_ENV = 'TFJS_MAE_WASM_HEAP_LIMIT';

function limitFromEnv(): number | undefined {
  const text = process.env[WASM_HEAP_LIMIT_ENV];
  if (text === undefined || text.trim() === '') return undefined;
  const bytes = Number(text);
  if (!Number.isSafeInteger(bytes) || bytes < 1) throw new CliError(`${WASM_HEAP_LIMIT_ENV}: expected a number of bytes (an integer >= 1), got ${JSON.stringify(text)}`);
  return bytes;
}

/**
 * On the wasm backend, throws a `CliError` naming the model, the estimated
 * bytes, the limit and the flags to change when a training step of
 * `batchSize` images cannot fit the heap. Does nothing on other backends.
 *
 * @param config the model's config (`model.config`; a classifier: its encoder's fields with `maskRatio: 0`)
 */
export function checkTrainingMemory(command: string, config: MemoryModelConfig, batchSize: number, options: { recompute?: boolean } = {}): void {
  const limitBytes = limitFromEnv();
  try {
    checkWasmMemory(config, { batch: batchSize, mode: 'train', recompute: options.recompute, ...(limitBytes === undefined ? {} : { limitBytes }) });
  } catch (e) {
    if (!(e instanceof MAEMemoryError)) throw e;
    const [what] = e.message.replace(/^batch: /, '').split('; use ');
    const fits = /a batch of (\d+) or fewer/.exec(e.message)?.[1];
    const advice = [
      fits ? `--batch-size ${fits} or less (with --accum-iter to keep the effective batch)` : 'a smaller model',
      '--backend tensorflow (tfjs-node) or cpu',
    ].join(', or ');
    const limit = limitBytes === undefined ? '' : ` (${WASM_HEAP_LIMIT_ENV}=${limitBytes})`;
    throw new CliError(`${command} --batch-size ${batchSize} does not fit the wasm backend: ${what}${limit}; use ${advice}`);
  }
}
