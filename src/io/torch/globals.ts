/**
 * The allow-list of Python globals a PyTorch state-dict pickle may name, and
 * the JavaScript stand-ins for them. Rebuilding a tensor only records where
 * its values live ({@link TensorRef}); bytes are read later, after every
 * reference has been checked.
 */
import { CheckpointError } from '../../errors';
import { describeUntrusted } from '../describeUntrusted';
import { codecOf } from '../dtypes';
import { PyCallable, PyDict, PyGlobal, PyInertClass, type PyTuple, describeValue } from './pickle';

/** torch storage class → file dtype (see `CODECS` in `../dtypes`). */
export const STORAGE_DTYPES: Readonly<Record<string, string>> = Object.freeze({
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  DoubleStorage: 'F64',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
});

/** A storage the pickle refers to: `<stem>/data/<key>`, `numel` elements of `dtype`. */
export class StorageRef {
  constructor(
    readonly key: string,
    readonly dtype: string,
    readonly numel: number,
  ) {}
}

/** A tensor as `_rebuild_tensor_v2` describes it: a strided view of a storage. */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly size: readonly number[],
    readonly stride: readonly number[],
  ) {}

  /** prod(size). */
  get numel(): number {
    return this.size.reduce((a, b) => a * b, 1);
  }
}

function fail(message: string): never {
  throw new CheckpointError(`torch checkpoint: ${message}`);
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function countTuple(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || !v.every(isCount)) fail(`tensor ${what} must be a tuple of non-negative integers, got ${describeUntrusted(v)}`);
  return (v as number[]).slice();
}

/**
 * Checks that every element of the view lies inside its storage:
 * `offset + Σ (size_i − 1)·stride_i < numel(storage)`, in safe integers.
 */
function checkView(storage: StorageRef, offset: number, size: number[], stride: number[]): void {
  const where = `view (offset ${offset}, size ${describeUntrusted(size)}, stride ${describeUntrusted(stride)}) of storage ${describeUntrusted(storage.key)} with ${storage.numel} elements`;
  if (size.length !== stride.length) fail(`${where}: size and stride differ in length`);
  if (size.includes(0)) {
    if (offset > storage.numel) fail(`${where}: offset outside the storage`);
    return;
  }
  let last = offset;
  const limit = storage.numel - 1;
  if (last > limit) fail(`${where}: offset outside the storage`);
  for (let i = 0; i < size.length; i++) {
    if (stride[i] > 0 && size[i] - 1 > (limit - last) / stride[i]) fail(`${where}: reaches past the end of the storage`);
    last += (size[i] - 1) * stride[i];
  }
  const numel = size.reduce((a, b) => a * b, 1);
  if (numel > storage.numel) {
    fail(`${where}: has more elements (${numel}) than its storage; overlapping (stride-0) views are not supported`);
  }
}

/** `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])`. */
function rebuildTensor(args: PyTuple): TensorRef {
  if (args.length < 4 || args.length > 7) fail(`_rebuild_tensor_v2 takes 6 or 7 arguments, got ${args.length}`);
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof StorageRef)) fail(`_rebuild_tensor_v2 needs a storage, got ${describeValue(storage)}`);
  if (!isCount(offset)) fail(`tensor storage offset must be a non-negative integer, got ${describeUntrusted(offset)}`);
  const sizes = countTuple(size, 'size');
  const strides = countTuple(stride, 'stride');
  checkView(storage, offset, sizes, strides);
  return new TensorRef(storage, offset, sizes, strides);
}

/** `torch._utils._rebuild_parameter(data, requires_grad, hooks[, state])`: the data tensor. */
function rebuildParameter(args: PyTuple): TensorRef {
  const data = args[0];
  if (!(data instanceof TensorRef)) fail(`_rebuild_parameter needs a tensor, got ${describeValue(data)}`);
  return data;
}

const OBJECT_HINTS: Readonly<Record<string, string>> = Object.freeze({
  numpy: 'numpy objects',
  'torch.nn': 'a pickled nn.Module (torch.save(model)); save model.state_dict() instead',
  __torch__: 'TorchScript code (torch.jit.save); save model.state_dict() with torch.save instead',
});

/**
 * Resolves an allow-listed global; any other name is refused (nothing is
 * ever imported or run, so refusing is about clarity and a small surface).
 */
export function resolveTorchGlobal(module: string, name: string): PyCallable | PyGlobal | PyInertClass {
  const qualified = `${module}.${name}`;
  switch (qualified) {
    case 'collections.OrderedDict':
      return new PyCallable(qualified, (args) => {
        if (args.length !== 0) fail(`collections.OrderedDict is only rebuilt empty (got ${args.length} arguments)`);
        return new PyDict('OrderedDict');
      });
    case 'torch._utils._rebuild_tensor_v2':
      return new PyCallable(qualified, rebuildTensor);
    case 'torch._utils._rebuild_parameter':
    case 'torch._utils._rebuild_parameter_with_state':
      return new PyCallable(qualified, rebuildParameter);
    case 'argparse.Namespace':
      // Training checkpoints keep their arguments here; kept as inert data, never read.
      return new PyInertClass(qualified);
  }
  if (module === 'torch' && Object.prototype.hasOwnProperty.call(STORAGE_DTYPES, name)) return new PyGlobal(qualified);
  const hint = Object.keys(OBJECT_HINTS).find((m) => module === m || module.startsWith(`${m}.`));
  const why = hint !== undefined ? `: the checkpoint holds ${OBJECT_HINTS[hint]}` : '';
  fail(
    `refusing global ${describeUntrusted(qualified)}${why}; only state dicts are read (allowed: collections.OrderedDict, ` +
      'torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter, torch.*Storage, argparse.Namespace)',
  );
}

/** Reads a persistent id `('storage', torch.XStorage, key, location, numel)`. */
export function storageFromPersistentId(pid: unknown): { key: string; dtype: string; numel: number } {
  if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage') {
    fail(`persistent id must be ('storage', type, key, location, numel), got ${describeValue(pid)}`);
  }
  const [, type, key, location, numel] = pid as unknown[];
  if (!(type instanceof PyGlobal)) fail(`storage type must be a torch.*Storage class, got ${describeValue(type)}`);
  const dtype = STORAGE_DTYPES[(type as PyGlobal).qualifiedName.slice('torch.'.length)];
  if (codecOf(dtype) === undefined) fail(`unsupported storage type ${(type as PyGlobal).qualifiedName}`);
  if (typeof key !== 'string' || typeof location !== 'string') fail(`storage key and location must be strings, got ${describeUntrusted(key)}, ${describeUntrusted(location)}`);
  if (!isCount(numel)) fail(`storage ${describeUntrusted(key)} element count must be a non-negative integer, got ${describeUntrusted(numel)}`);
  return { key: key as string, dtype, numel: numel as number };
}
