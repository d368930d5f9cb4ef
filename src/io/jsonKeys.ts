/**
 * Key scanner for JSON text that `JSON.parse` has already accepted.
 * `JSON.parse` silently keeps the last of two equal keys; a weights header
 * with a repeated tensor name is ambiguous (two readers can see two different
 * tensors), so the readers refuse it.
 */

/** Where a duplicate key was found: the key and the chain of keys leading to its object. */
export interface DuplicateKey {
  key: string;
  /** Keys from the top-level object down to the object holding the duplicate (empty at top level). */
  path: string[];
}

/** Keys of the top-level object in text order, and the first duplicate key at any depth. */
export interface JsonKeyScan {
  topLevelKeys: string[];
  duplicate?: DuplicateKey;
}

interface Frame {
  isObject: boolean;
  keys: Set<string>;
  expectKey: boolean;
  /** The key under which this container sits in its parent ('' for the root or array items). */
  name: string;
  /** The last key seen in this object. */
  lastKey: string;
}

/**
 * Scans valid JSON text. Only call it on text `JSON.parse` accepted: the
 * scanner trusts the grammar (strings are closed, brackets balance).
 */
export function scanJsonKeys(text: string): JsonKeyScan {
  const topLevelKeys: string[] = [];
  const stack: Frame[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      while (text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c /* \ */ ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top !== undefined && top.isObject && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) {
          const path = stack.slice(1).map((f) => f.name);
          return { topLevelKeys, duplicate: { key, path } };
        }
        top.keys.add(key);
        top.lastKey = key;
        top.expectKey = false;
        if (stack.length === 1) topLevelKeys.push(key);
      }
      i = j;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      const parent = stack[stack.length - 1];
      const name = parent !== undefined && parent.isObject ? parent.lastKey : '';
      stack.push({ isObject: c === 0x7b, keys: new Set(), expectKey: c === 0x7b, name, lastKey: '' });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top !== undefined && top.isObject) top.expectKey = true;
    }
  }
  return { topLevelKeys };
}
