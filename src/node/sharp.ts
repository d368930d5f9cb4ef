/**
 * sharp (libvips), the image decoder of tfjs-mae/node: an optional peer
 * dependency, loaded on first use so that the rest of the entry works
 * without it.
 */
import { DataError } from 'tfjs-mae';
import type SharpFactory from 'sharp';

/** The `sharp` function. */
export type Sharp = typeof SharpFactory;

let loaded: Promise<Sharp> | undefined;

/**
 * The `sharp` module.
 *
 * @throws DataError naming the package when it is not installed
 */
export function loadSharp(): Promise<Sharp> {
  loaded ??= import('sharp').then(
    (m) => ((m as { default?: Sharp }).default ?? (m as unknown as Sharp)),
    (err: unknown) => {
      loaded = undefined;
      throw new DataError(`image folders need the package "sharp" (npm install sharp): ${(err as Error)?.message ?? String(err)}`);
    },
  );
  return loaded;
}
