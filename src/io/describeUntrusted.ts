/**
 * Renders a value read from an untrusted file for an error message: bounded
 * in length and never recursive, so a hostile file (a 50 MB name, an array
 * nested a million deep) cannot blow up the message or the call stack.
 */
import { describe } from '../errors';

/** Longest rendering of one value, in characters. */
const MAX_CHARS = 100;

function clip(s: string): string {
  return s.length > MAX_CHARS ? `${s.slice(0, MAX_CHARS - 3)}...` : s;
}

/**
 * Describes `value` on one short line: primitives as {@link describe} does
 * (strings quoted and clipped), flat arrays of up to 16 primitives as
 * `[1, 2]`, other arrays as `an array of N`, objects by their first keys.
 */
export function describeUntrusted(value: unknown): string {
  if (typeof value === 'string') return clip(describe(value.length > MAX_CHARS ? value.slice(0, MAX_CHARS) : value));
  if (Array.isArray(value)) {
    const flat = value.length <= 16 && value.every((v) => v === null || (typeof v !== 'object' && typeof v !== 'string'));
    return flat ? clip(describe(value)) : `an array of ${value.length}`;
  }
  if (typeof value === 'object' && value !== null) {
    const keys = Object.keys(value);
    const shown = keys.slice(0, 4).map((k) => describeUntrusted(k)).join(', ');
    return `an object with keys {${shown}${keys.length > 4 ? ', ...' : ''}}`;
  }
  return describe(value);
}

/** Describes the first `max` values joined by `, `, then `(and N more)`. Defaults: max 8. */
export function describeList(values: readonly unknown[], max = 8): string {
  const shown = values.slice(0, max).map(describeUntrusted).join(', ');
  return values.length > max ? `${shown} (and ${values.length - max} more)` : shown;
}
