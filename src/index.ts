/**
 * tfjs-mae: Masked Autoencoder building blocks for TensorFlow.js.
 *
 * The pipeline, one folder per step: `patch` → `mask` → `encode` → `decode` →
 * `loss`, assembled in `model`; weights I/O in `io`.
 *
 * @packageDocumentation
 */
export { MAEError, MAEConfigError, MAEInputError, CheckpointError, DataError, TrainingError, MAEMemoryError } from './errors';

export { MAELayer, type StateEntry, type TorchLayout, type BaseLayerArgs } from './nn/MAELayer';
export { Linear, type LinearArgs } from './nn/Linear';
export { LayerNorm, type LayerNormArgs } from './nn/LayerNorm';
export { Attention, type AttentionArgs, type AttentionCallArgs } from './nn/Attention';
export { Mlp, type MlpArgs } from './nn/Mlp';
export { TransformerBlock, type TransformerBlockArgs, type BlockCallArgs } from './nn/TransformerBlock';
export { linear, gatherTokens, takeRows, argsortRows, layerNorm, gelu } from './nn/ops';
export { attention, attentionProbs, multiHeadAttention, splitHeads, type HeadSplit } from './nn/attentionOps';
export { repeatToken, type TokenRows } from './nn/tokens';

export { patchify, unpatchify } from './patch/patchify';
export { sincosPosEmbed2d, interpolatePosEmbed, type SincosOptions } from './patch/posEmbed';
export { PatchEmbed, type PatchEmbedArgs } from './patch/PatchEmbed';

export {
  lenKeepFor,
  maskTokens,
  type MaskingStrategy,
  type MaskingOptions,
  type MaskingConfig,
  type MaskSample,
  type MaskResult,
} from './mask/strategy';
export { RandomMasking, type RandomMaskingArgs } from './mask/RandomMasking';
export { BlockMasking, type BlockMaskingArgs } from './mask/BlockMasking';
export { GridMasking, gridCellFor } from './mask/GridMasking';
export { maskSampleFromIdsKeep } from './mask/idsKeep';
export { createMasking, registerMaskingStrategy, maskingConfigOf, type MaskingSpec, type MaskingFactory } from './mask/registry';

export { ViTEncoder, type ViTEncoderArgs, type EncoderOptions, type EncoderOutput } from './encode/ViTEncoder';
export { ViTBackbone, type ViTBackboneArgs, type ViTTrunkSpec } from './encode/ViTBackbone';
export { MAEDecoder, removedPatchRows, type RemovedPatchRows, type MaskedPrediction, type MAEDecoderArgs, type DecoderOptions, type DecoderOutput } from './decode/MAEDecoder';
export { patchTargets, maskedMSE, type PatchTargetOptions } from './loss/loss';

export {
  MaskedAutoencoder,
  type MaskedAutoencoderArgs,
  type MAEConfig,
  type ForwardOptions,
  type MAEOutput,
  outputTensors,
} from './model/MaskedAutoencoder';
export { maeVitBasePatch16, maeVitLargePatch16, maeVitHugePatch14, maeVitTinyPatch4 } from './model/presets';

export {
  parseSafetensors,
  readSafetensors,
  writeSafetensors,
  encodeSafetensors,
  MAX_SAFETENSORS_HEADER_BYTES,
  type ParsedSafetensors,
} from './io/safetensors';
export {
  parseTorchCheckpoint,
  readTorchCheckpoint,
  type TorchCheckpoint,
  type TorchCheckpointWrapper,
} from './io/torch/checkpoint';
export { inferConfig, type InferredConfig, type InferHints } from './io/inferConfig';
export { type HostTensor, type HostTensors, type HostDType, toTfTensors } from './io/hostTensor';
export {
  stateDict,
  loadStateDict,
  detectNaming,
  summarise,
  officialGradients,
  torchShape,
  toTorchLayout,
  fromTorchLayout,
  type Naming,
  type StateDictOptions,
  type LoadOptions,
  type LoadReport,
} from './io/stateDict';
export { toHFNames, fromHFNames, officialToHFNames, renameToHF, renameFromHF, type RowOps } from './io/naming';

export {
  ViTClassifier,
  type ViTClassifierArgs,
  type ClassifierOptions,
  type ClassifierOutput,
  type ClassifierHead,
  type FromMAEOptions,
} from './classify/ViTClassifier';
export { LinearProbeHead, type LinearProbeHeadArgs, type ProbeCallArgs } from './classify/LinearProbeHead';
export { vitBasePatch16, vitLargePatch16, vitHugePatch14 } from './classify/presets';
export { dropPath } from './nn/stochastic';
export {
  loadPretrained,
  readWeights,
  detectRelease,
  componentOf,
  type PretrainedOptions,
  type PretrainedReport,
  type ComponentReport,
  type ResampledTable,
  type IgnoredTensor,
  type ReleaseKind,
  type Component,
  type WeightsFile,
} from './io/releases';
export { saveModel, loadModel, TFJS_MAE_FORMAT, type SavedTopology, type SaveModelOptions } from './io/tfjsModel';
export { nodeFolderHandler, MODEL_FILE, WEIGHTS_FILE } from './io/nodeFolder';
// Weights read by ranges (io-stream): byte sources and the header-level index
export {
  type ByteSource,
  type UrlSourceOptions,
  bytesSource,
  blobSource,
  urlSource,
  withSource,
  checkRange,
  checkLength,
} from './io/byteSource';
export {
  type WeightsIndex,
  type TensorInfo,
  type LazyHostTensor,
  openWeights,
  openSafetensors,
  openTorchCheckpoint,
  LAZY_ROWS,
} from './io/weightsIndex';
export { loadPretrainedFrom } from './io/releases';
export { safetensorsHeader, tensorBytes, type TensorLayout, type SafetensorsLayout } from './io/safetensors';
export { planStateDict, writeEntry, type LoadPlan } from './io/stateDict';

// Weights that carry their model config (from_pretrained)
export {
  resolveModelConfig,
  buildModel,
  modelConfigOf,
  weightsMetadata,
  readStoredConfig,
  compareWithStored,
  officialShapes,
  CONFIG_METADATA_KEY,
  type ModelConfig,
  type ModelClassName,
  type ConfigHints,
  type ConfigSources,
  type ResolvedConfig,
} from './io/modelConfig';
export { fromHFConfig, toHFConfig, type HFModelClass, type HFModelConfig } from './io/hfConfig';
export { HEADS_BY_WIDTH, DECODER_HEADS_BY_WIDTH, type InferContext } from './io/inferConfig';
export { loadPretrainedModel, saveWeights, type FromPretrainedOptions, type PretrainedModel, type SaveWeightsOptions } from './io/pretrainedModel';
// The one resolve → build → load path over an opened weights file (load-fast)
export { loadPretrainedModelFrom, type PretrainedModelOptions } from './io/pretrainedModel';
export {
  openPretrainedSource,
  openLocation,
  FOLDER_WEIGHTS_FILES,
  HF_CONFIG_FILE,
  type PretrainedSource,
  type PretrainedFiles,
  type BytesSource,
  type SourceOptions,
  type OpenedSource,
  countingSource,
} from './io/source';
// fromPretrained by ranges (io-ranges): local files through a file handle (Node; node:fs imported lazily);
// the parts of saveModel / nodeFolderHandler that tfjs-mae/node's streaming writeTfjsFolder reuses
export { fileSource } from './io/fileSource';
export { modelArtifacts, type ModelArtifactsParts } from './io/tfjsModel';
export { modelJSON } from './io/nodeFolder';

// Training
export type { NamedParam, ParamGroup, NamedTensors } from './train/types';
export { AdamW, type AdamWArgs, type AdamWState, type AdamWParamState } from './train/adamw';
export { paramGroups, layerId, NO_WEIGHT_DECAY_NAMES, type ParamGroupsArgs } from './train/paramGroups';
export {
  warmupCosine,
  warmupCosineEpochs,
  scaledLr,
  type WarmupCosineArgs,
  type WarmupCosineEpochsArgs,
} from './train/schedule';
export { GradAccumulator, clipGradNorm, type ClippedGrads } from './train/grads';
export { pretrain, maskNoiseSeed, trainableParams, type PretrainModel, type PretrainOptions, type PretrainResult } from './train/pretrain';
export { trainLoop, type TrainLoopOptions, type TrainResult, type TrainLoopSpec } from './train/loop';
export { imageDataSource, type TrainBatch, type TrainDataSource, type TrainData } from './train/data';
// Async data sources (issue 14)
export { type AnyBatch, type XsYsBatch, type DatasetLike, type DatasetIterator, type BatchStream, type ImageDataSource } from './train/data';
export { type PooledFeatures } from './eval/features';
export { type LinearProbeImagesOptions } from './eval/linearProbe';
export { checkSeed } from './data/rng';
export { progressPrinter, formatStep, type StepInfo, type EpochInfo, type ProgressCallbacks, type ProgressPrinterArgs } from './train/progress';
export { encodeCheckpoint, decodeCheckpoint, type TrainingCheckpoint } from './train/checkpoint';

// Evaluation
export {
  extractFeatures,
  extractPooledFeatures,
  type FeatureEncoder,
  type FeaturePool,
  type FeatureImages,
  type ExtractFeaturesOptions,
  type ExtractPooledFeaturesOptions,
} from './eval/features';
export { linearProbe, type LinearProbeOptions, type LinearProbeResult, type LinearProbeEpochInfo } from './eval/linearProbe';
export type { Labels } from './eval/metrics';
export {
  finetune,
  finetuneParamGroups,
  evaluateClassifier,
  type FinetuneOptions,
  type FinetuneResult,
  type Classifier,
} from './eval/finetune';
// Evaluation metrics and probe checkpoints (cli-official)
export { evaluateClassifierMetrics, type ClassifierMetrics } from './eval/finetune';
export { linearProbeStepsPerEpoch } from './eval/linearProbe';
export type { LARSState } from './train/lars';

// Data
export {
  parseIdx,
  readIdx,
  IDX_MAX_NDIM,
  type IdxArray,
  type IdxData,
  type IdxDType,
  type IdxReadOptions,
} from './data/idx';
export {
  batches,
  batchesPerEpoch,
  epochOrder,
  imagesToTensor,
  normalizationTable,
  type Batch,
  type BatchesArgs,
  type LabelsInput,
  type NormalizeArgs,
} from './data/batches';
export { Rng, permutation, mixSeed } from './data/rng';
export {
  randomResizedCrop,
  randomHorizontalFlip,
  sampleCropBoxes,
  sampleFlips,
  type CropBox,
  type CropSamplingArgs,
  type RandomResizedCropArgs,
  type RandomHorizontalFlipArgs,
} from './data/augment';

// Fine-tuning and linear-probing recipes (mixup/cutmix, label smoothing, augmentations, LARS)
export { mixupCutmix, mixupTargets, sampleMixup, type MixupCutmixArgs, type MixupParams, type MixupResult } from './data/mixup';
export { softTargetCrossEntropy } from './eval/metrics';
export { randomErasing, sampleErasing, type RandomErasingArgs } from './data/randomErasing';
export {
  randAugment,
  randAugmentOp,
  sampleRandAugment,
  RAND_AUGMENT_OPS,
  type RandAugmentArgs,
  type RandAugmentOp,
  type RandAugmentOpName,
} from './data/randAugment';
export { FINETUNE_RECIPE, type FinetuneRecipe, type FinetuneRegularisers, type FinetuneMixup } from './eval/finetuneRecipe';
export { LARS, type LARSArgs } from './train/lars';
export { LINPROBE_RECIPE, type LinprobeRecipe, type LinearProbeOptimizerOptions } from './eval/linearProbeRecipe';

// Visualisation
export { denormalizeNormPix, type NormPixStats, type DenormalizeNormPixArgs } from './viz/normPix';
export {
  denormalize,
  reconstructionRows,
  imageGrid,
  reconstructionGrid,
  renderReconstructions,
  type RgbaImage,
  type DenormalizeArgs,
  type ReconstructionRow,
  type ReconstructionRowsArgs,
  type ImageGridArgs,
  type ReconstructionGridArgs,
  type ReconstructingModel,
  type RenderReconstructionsArgs,
} from './viz/reconstruction';


// Recomputation (activation checkpointing): the per-call option of MAEDecoder.forwardMasked
export type { RecomputeOption } from './decode/MAEDecoder';
// The first hour (issue 13): run reports, figures on a canvas
export { MIN_LR_SUM, formatRunInfo, type RunInfo } from './train/runInfo';
export { toCanvas, type DrawableCanvas } from './viz/canvas';
// Memory (issue 16): estimate and the wasm 4 GiB pre-flight check
export {
  estimateMemory,
  checkWasmMemory,
  describeModel,
  WASM_HEAP_LIMIT,
  WASM_HEAP_SLACK_BYTES,
  type MemoryMode,
  type MemoryModelConfig,
  type MemoryEstimateOptions,
  type MemoryEstimate,
  type WasmMemoryCheckOptions,
} from './model/memory';
// Image files as training data, in any environment (issue 14): the shared source, and the browser's files and URLs
export {
  IMAGE_EXTENSIONS,
  IMAGE_HEAD_BYTES,
  IMAGE_SIZE_HEAD_BYTES,
  imageHeaderSize,
  sniffImageFormat,
  hasImageExtension,
  classifyImageFile,
  warnBadFile,
  reportBadFile,
  corruptFile,
  type BadImageFile,
  type BadImageKind,
  type ImageFormat,
  type ImageSize,
} from './data/imageFiles';
export {
  evalResizeShape,
  centreCropBox,
  samplePlan,
  sampleSeed,
  overPixelLimit,
  type ImageTransform,
  type SampleSpec,
  type SamplePlan,
  type DecodeResult,
} from './data/sampleTransform';
export {
  decodedImageSource,
  resolveImageSourceOptions,
  IMAGENET_MEAN,
  IMAGENET_STD,
  type ImageSource,
  type ImageSourceOptions,
  type ImageSourceSummary,
  type ImageSourceBatch,
  type ImageSourceFiles,
  type SampleDecoder,
  type ResolvedImageSourceOptions,
} from './data/imageSource';
export {
  listImageFiles,
  imageFilesSource,
  decodeImageBlob,
  canvasSourceRect,
  rgbaToChannels,
  type ImageFileInput,
  type ListImageFilesOptions,
  type ImageFilesListing,
  type ImageFilesSource,
  type ImageFilesSourceOptions,
  type BlobDecoder,
  type CanvasSourceRect,
} from './data/imageFilesSource';
export { WASM_PACKED_WEIGHTS_MAX_BYTES } from './nn/ops';
