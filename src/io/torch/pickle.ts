/**
 * A restricted unpickler: a small stack machine over the binary pickle
 * opcodes that PyTorch state-dict pickles use (protocol 2, plus the few
 * protocol-4 framing opcodes). No code is ever run: `GLOBAL` only resolves
 * names through a caller-supplied allow-list, and `REDUCE` / `NEWOBJ` /
 * `BUILD` only act on the inert objects that allow-list returns.
 *
 * Python values map to: `None` → `null`, bool → boolean, int → number (a safe
 * integer; larger ints are refused), float → number, str → string, tuple →
 * frozen array, list → {@link PyList}, dict → {@link PyDict}.
 */
import { CheckpointError } from '../../errors';
import { describeUntrusted } from '../describeUntrusted';

/** A Python list. */
export class PyList {
  constructor(readonly items: unknown[] = []) {}
}

/** A Python dict (or `collections.OrderedDict`), keys in insertion order. */
export class PyDict {
  readonly map = new Map<unknown, unknown>();
  /** State applied by `BUILD` (e.g. the `_metadata` of a state dict), if any. */
  state: unknown = undefined;
  constructor(readonly className: string = 'dict') {}
}

/** A Python tuple. */
export type PyTuple = readonly unknown[];

/** An allow-listed global that `REDUCE` may call (implemented in JavaScript, never Python). */
export class PyCallable {
  constructor(
    readonly qualifiedName: string,
    readonly call: (args: PyTuple) => unknown,
  ) {}
}

/** An allow-listed global used as a value (e.g. `torch.FloatStorage` in a persistent id). */
export class PyGlobal {
  constructor(readonly qualifiedName: string) {}
}

/**
 * An allow-listed class whose instances are inert data (created by `NEWOBJ`,
 * filled by `BUILD`), such as `argparse.Namespace` in training checkpoints.
 */
export class PyInertClass {
  constructor(readonly qualifiedName: string) {}
}

/** An instance of a {@link PyInertClass}: its class name and `BUILD` state only. */
export class PyInertObject {
  state: unknown = undefined;
  constructor(readonly className: string) {}
}

/** Limits that keep a hostile pickle from exhausting memory. */
export interface UnpickleLimits {
  /** Most values on the stack at once. Defaults to 1,000,000. */
  maxStack?: number;
  /** Most memo entries. Defaults to 1,000,000. */
  maxMemo?: number;
  /** Most nested MARKs open at once. Defaults to 1,000. */
  maxMarkDepth?: number;
  /** Most objects created in total (containers, strings, numbers). Defaults to 10,000,000. */
  maxObjects?: number;
}

/** What {@link unpickle} needs from its caller. */
export interface UnpickleOptions extends UnpickleLimits {
  /**
   * Resolves `module.name` to an allow-listed value; throws a CheckpointError
   * for anything else.
   */
  resolveGlobal(module: string, name: string): PyCallable | PyGlobal | PyInertClass;
  /** Resolves a persistent id (`BINPERSID`), e.g. a torch storage reference. */
  persistentLoad(pid: unknown): unknown;
}

/** Renders an opcode byte for messages: `0x63 ("c")`. */
function opName(op: number): string {
  const hex = `0x${op.toString(16).padStart(2, '0')}`;
  return op >= 0x20 && op < 0x7f ? `${hex} (${JSON.stringify(String.fromCharCode(op))})` : hex;
}

/**
 * Runs a pickle and returns the object `STOP` leaves on the stack.
 *
 * @throws CheckpointError for an unsupported opcode, a refused global, a
 *   truncated or malformed stream, or a limit exceeded.
 */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): unknown {
  const maxStack = options.maxStack ?? 1_000_000;
  const maxMemo = options.maxMemo ?? 1_000_000;
  const maxMarkDepth = options.maxMarkDepth ?? 1_000;
  const maxObjects = options.maxObjects ?? 10_000_000;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let objects = 0;
  let pos = 0;
  let opAt = 0;
  let op = 0;

  const fail = (message: string): never => {
    throw new CheckpointError(`pickle: ${message} (opcode ${opName(op)} at byte ${opAt})`);
  };
  const need = (n: number): number => {
    if (pos + n > bytes.length) fail(`truncated: needs ${n} more bytes, ${bytes.length - pos} left`);
    const at = pos;
    pos += n;
    return at;
  };
  const push = (v: unknown): void => {
    if (stack.length >= maxStack) fail(`stack holds more than ${maxStack} values`);
    if (++objects > maxObjects) fail(`more than ${maxObjects} objects`);
    stack.push(v);
  };
  const pop = (): unknown => {
    const base = marks.length > 0 ? marks[marks.length - 1] : 0;
    if (stack.length <= base) fail('stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    const base = marks.length > 0 ? marks[marks.length - 1] : 0;
    if (stack.length <= base) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const base = marks.pop();
    if (base === undefined) fail('no MARK to pop to');
    return stack.splice(base!);
  };
  const memoPut = (index: number): void => {
    if (!memo.has(index) && memo.size >= maxMemo) fail(`memo holds more than ${maxMemo} entries`);
    memo.set(index, top());
  };
  const memoGet = (index: number): void => {
    if (!memo.has(index)) fail(`memo entry ${index} was never stored`);
    push(memo.get(index));
  };
  const readLine = (what: string): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0 || end - pos > 256) fail(`${what} is not a newline-terminated name of at most 256 bytes`);
    const s = String.fromCharCode(...bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const readString = (length: number): string => {
    const at = need(length);
    try {
      return utf8.decode(bytes.subarray(at, at + length));
    } catch {
      return fail('string is not valid UTF-8');
    }
  };
  const setItems = (target: unknown, items: unknown[]): void => {
    if (!(target instanceof PyDict)) fail(`SETITEM(S) on ${describeValue(target)}, expected a dict`);
    if (items.length % 2 !== 0) fail('odd number of values for SETITEMS');
    for (let i = 0; i < items.length; i += 2) {
      const key = items[i];
      if (typeof key !== 'string' && typeof key !== 'number' && typeof key !== 'boolean' && key !== null) {
        fail(`dict key ${describeValue(key)} is not a string or number`);
      }
      (target as PyDict).map.set(key, items[i + 1]);
    }
  };
  const appendItems = (target: unknown, items: unknown[]): void => {
    if (!(target instanceof PyList)) fail(`APPEND(S) on ${describeValue(target)}, expected a list`);
    const list = (target as PyList).items;
    for (const item of items) list.push(item); // no spread: a long APPENDS would overflow the call stack
  };
  const resolve = (module: string, name: string): void => {
    if (!/^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$/.test(module) || !/^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$/.test(name)) {
      fail(`global ${describeUntrusted(`${module}.${name}`.slice(0, 80))} is not a dotted Python name`);
    }
    push(options.resolveGlobal(module, name));
  };

  for (;;) {
    opAt = pos;
    op = bytes[need(1)];
    switch (op) {
      case 0x80: {
        // PROTO
        const version = bytes[need(1)];
        if (version > 5) fail(`pickle protocol ${version} is not supported (at most 5)`);
        break;
      }
      case 0x95: // FRAME: a length hint only
        need(8);
        break;
      case 0x2e: // STOP
        if (marks.length > 0) fail('STOP with an open MARK');
        if (stack.length !== 1) fail(`STOP with ${stack.length} values on the stack, expected 1`);
        return stack[0];
      case 0x28: // MARK
        if (marks.length >= maxMarkDepth) fail(`more than ${maxMarkDepth} nested MARKs`);
        marks.push(stack.length);
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x4a: // BININT
        push(view.getInt32(need(4), true));
        break;
      case 0x4b: // BININT1
        push(bytes[need(1)]);
        break;
      case 0x4d: // BININT2
        push(view.getUint16(need(2), true));
        break;
      case 0x8a: {
        // LONG1: little-endian two's complement of n ≤ 7 bytes (safe integers only)
        const n = bytes[need(1)];
        if (n > 7) fail(`LONG1 of ${n} bytes exceeds the safe-integer range`);
        const at = need(n);
        let value = 0;
        for (let i = n - 1; i >= 0; i--) value = value * 256 + bytes[at + i];
        if (n > 0 && bytes[at + n - 1] & 0x80) value -= 2 ** (8 * n);
        if (!Number.isSafeInteger(value)) fail(`integer ${value} exceeds the safe-integer range`);
        push(value);
        break;
      }
      case 0x47: // BINFLOAT (big-endian double)
        push(view.getFloat64(need(8), false));
        break;
      case 0x58: // BINUNICODE
        push(readString(view.getUint32(need(4), true)));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(readString(bytes[need(1)]));
        break;
      case 0x7d: // EMPTY_DICT
        push(new PyDict());
        break;
      case 0x5d: // EMPTY_LIST
        push(new PyList());
        break;
      case 0x29: // EMPTY_TUPLE
        push(Object.freeze([]));
        break;
      case 0x74: // TUPLE
        push(Object.freeze(popMark()));
        break;
      case 0x85: // TUPLE1
        push(Object.freeze([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        push(Object.freeze([pop(), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        push(Object.freeze([pop(), b, c]));
        break;
      }
      case 0x71: // BINPUT
        memoPut(bytes[need(1)]);
        break;
      case 0x72: // LONG_BINPUT
        memoPut(view.getUint32(need(4), true));
        break;
      case 0x94: // MEMOIZE
        memoPut(memo.size);
        break;
      case 0x68: // BINGET
        memoGet(bytes[need(1)]);
        break;
      case 0x6a: // LONG_BINGET
        memoGet(view.getUint32(need(4), true));
        break;
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = readLine('GLOBAL module');
        resolve(module, readLine('GLOBAL name'));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        resolve(module as string, name as string);
        break;
      }
      case 0x51: // BINPERSID
        push(options.persistentLoad(pop()));
        break;
      case 0x52: {
        // REDUCE
        const args = pop();
        const callable = pop();
        if (!(callable instanceof PyCallable)) fail(`REDUCE on ${describeValue(callable)}, which is not an allowed callable`);
        if (!Array.isArray(args)) fail(`REDUCE arguments must be a tuple, got ${describeValue(args)}`);
        push((callable as PyCallable).call(args as PyTuple));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop();
        const cls = pop();
        if (!(cls instanceof PyInertClass)) fail(`NEWOBJ on ${describeValue(cls)}, which is not an allowed class`);
        if (!Array.isArray(args) || args.length !== 0) fail(`NEWOBJ of ${(cls as PyInertClass).qualifiedName} with arguments is not supported`);
        push(new PyInertObject((cls as PyInertClass).qualifiedName));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        const target = top();
        if (target instanceof PyDict || target instanceof PyInertObject) target.state = state;
        else fail(`BUILD on ${describeValue(target)}, which takes no state`);
        break;
      }
      case 0x73: {
        // SETITEM
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x61: {
        // APPEND
        const value = pop();
        appendItems(top(), [value]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      default:
        fail('unsupported opcode (only the opcodes of state-dict pickles are accepted)');
    }
  }
}

/** Short description of an unpickled value for error messages. */
export function describeValue(v: unknown): string {
  const a = (noun: string) => `${/^[aeiouAEIOU]/.test(noun) ? 'an' : 'a'} ${noun}`;
  if (v instanceof PyDict) return a(v.className);
  if (v instanceof PyList) return 'a list';
  if (v instanceof PyCallable || v instanceof PyGlobal || v instanceof PyInertClass) return v.qualifiedName;
  if (v instanceof PyInertObject) return a(v.className);
  if (Array.isArray(v)) return `a tuple of ${v.length}`;
  if (typeof v === 'object' && v !== null) return a(v.constructor?.name ?? 'object');
  return describeUntrusted(v);
}
