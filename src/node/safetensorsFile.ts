/**
 * Writing a safetensors file tensor by tensor: the header is laid out from
 * names and shapes first, then each tensor is read, written at its offset
 * and let go, so a file of any size is converted in about one tensor of
 * memory. Written atomically (temp file in the same folder, then rename).
 */
import { CheckpointError, type LazyHostTensor, safetensorsHeader, tensorBytes } from 'tfjs-mae';
import { writeFileAtomicWith } from './atomicFile';

/** What {@link writeSafetensorsFile} wrote. */
export interface WrittenSafetensors {
  /** Tensors written. */
  tensors: number;
  /** File size in bytes. */
  bytes: number;
}

/**
 * Writes `tensors` (in order) as the safetensors file `path`, loading one
 * at a time. float32 → F32, int32 → I32.
 *
 * ```ts
 * const weights = await openWeights(await fileSource('mae_pretrain_vit_huge.pth'));
 * await writeSafetensorsFile('vit_huge.safetensors', weights.lazy(), { ...weights.metadata, format: 'pt' });
 * ```
 *
 * @param metadata the `__metadata__` (string → string). Defaults to none.
 * @throws CheckpointError for a tensor whose loaded shape or dtype is not the announced one
 *   (nothing is left at `path` then), MAEError when the file cannot be written.
 */
export async function writeSafetensorsFile(
  path: string,
  tensors: Iterable<[string, LazyHostTensor]>,
  metadata?: Record<string, string>,
): Promise<WrittenSafetensors> {
  const list = [...tensors];
  const layout = safetensorsHeader(list, metadata);
  await writeFileAtomicWith(path, async (file) => {
    await file.truncate(layout.size);
    await file.write(layout.header, 0, layout.header.length, 0);
    for (let i = 0; i < list.length; i++) {
      const [name, lazy] = list[i];
      const t = await lazy.load();
      if (t.dtype !== lazy.dtype || t.shape.length !== lazy.shape.length || t.shape.some((d, k) => d !== lazy.shape[k])) {
        throw new CheckpointError(`${path}: tensor ${JSON.stringify(name)} came as ${t.dtype} [${t.shape}], announced as ${lazy.dtype} [${lazy.shape}]`);
      }
      const bytes = tensorBytes(name, t);
      await file.write(bytes, 0, bytes.length, layout.offsets[i]);
    }
  });
  return { tensors: list.length, bytes: layout.size };
}
