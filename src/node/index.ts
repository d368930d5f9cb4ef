/**
 * tfjs-mae/node: the Node-only half of the library (files, image decoding,
 * worker threads). Everything here may import `node:*` modules; the main
 * entry (`tfjs-mae`) stays isomorphic.
 *
 * This entry imports the library itself as `tfjs-mae` (an external of the
 * build), so the layer classes are registered once, by the main entry, and
 * `instanceof` holds across the two entry points.
 *
 * @packageDocumentation
 */
export { nodeFolderHandler, MODEL_FILE, WEIGHTS_FILE } from 'tfjs-mae';

// Files the `tfjs-mae` command writes (branch cli): atomic writes, PNG figures, NumPy arrays.
export { writeFileAtomic, isAtomicTemp, type WriteFileAtomicOptions } from './atomicFile';
export { encodePng, writePng } from './png';
export { encodeNpy, decodeNpy, writeNpy } from './npy';
