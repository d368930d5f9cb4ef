/**
 * Typed errors thrown by tfjs-mae. Every message names the argument, what was
 * expected and what came, on one line.
 */

/** Base class of every error this library throws on purpose. */
export class MAEError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A configuration value (constructor argument, option) is invalid. */
export class MAEConfigError extends MAEError {}

/** A tensor passed at call time has the wrong rank, shape or dtype. */
export class MAEInputError extends MAEError {}

/**
 * A weights file (safetensors, PyTorch checkpoint, tfjs model folder) is
 * malformed, hostile or does not match the model.
 */
export class CheckpointError extends MAEError {}

/**
 * A data file (IDX images or labels, gzip stream) is malformed, truncated,
 * hostile (oversized) or does not hold what the caller asked for.
 */
export class DataError extends MAEError {}

/**
 * Training went wrong at run time (a non-finite loss, a data source that
 * yields no batch); the message names the step.
 */
export class TrainingError extends MAEError {}

/** Renders a value for an error message: shapes as `[2,3]`, strings quoted. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(describe).join(', ')}]`;
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (typeof value === 'bigint') return `${value}n`;
  try {
    const s = JSON.stringify(value);
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/**
 * A model plus batch would not fit in the backend's memory (wasm's 4 GiB
 * heap); thrown before running, with the estimate and what to change.
 */
export class MAEMemoryError extends MAEError {}
