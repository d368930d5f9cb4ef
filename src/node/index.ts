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
export { writeFileAtomic, writeFileAtomicWith, writeFolderAtomicWith, isAtomicTemp, type WriteFileAtomicOptions } from './atomicFile';
export { encodePng, writePng } from './png';
export { encodeNpy, decodeNpy, writeNpy } from './npy';

// Image folders as training data (issue 14); decoding needs the optional peer dependency `sharp`.
// (the file vocabulary, transforms' geometry and ImageNet statistics live in the main entry, shared with browsers)
export {
  sniffImageFormat,
  IMAGE_EXTENSIONS,
  sampleSeed,
  IMAGENET_MEAN,
  IMAGENET_STD,
  evalResizeShape,
  centreCropBox,
  type BadImageFile,
  type BadImageKind,
  type ImageFormat,
  type ImageTransform,
} from 'tfjs-mae';
export {
  listImageFolder,
  splitImageFolder,
  type ImageFolderListing,
  type ListImageFolderOptions,
  type SplitImageFolderOptions,
  type ImageFolderSplit,
} from './imageFolder';
export {
  imageFolderSource,
  imageFolderStats,
  type ImageFolderSource,
  type ImageFolderSourceOptions,
  type ImageFolderBatch,
  type ImageFolderSummary,
  type ImageFolderStatsOptions,
  type ChannelStats,
} from './imageFolderSource';
// The first hour (issue 13): Node's own error output with the wasm backend
export { removeWasmRethrowHandlers } from './wasmErrors';
// Multi-threaded wasm in Node (issue 15)
export { useWasmThreads, logicalCores, type WasmThreads, type WasmThreadsOptions } from './wasmThreads';
// Weights read by ranges (branch io-stream)
export { fileSource } from 'tfjs-mae';
export { writeSafetensorsFile, type WrittenSafetensors } from './safetensorsFile';
// tfjs model folders written one weight at a time (io-ranges)
export { writeTfjsFolder, type WriteTfjsFolderOptions, type WrittenTfjsFolder } from './tfjsFolder';
