/**
 * docs/cli.md, generated from the commands' declarations (names, arguments,
 * flags, defaults), so the reference cannot drift from the code:
 * `npm run docs:cli` writes it, and a test checks it is current.
 */
import { kebab, positionalUsage } from './args';
import { COMMANDS } from './commands';

const cell = (s: string): string => s.replace(/\|/g, '\\|');

/** The Markdown of docs/cli.md. */
export function cliReference(intro: string): string {
  const lines = [intro.trim(), ''];
  for (const c of COMMANDS) {
    lines.push(`## \`tfjs-mae ${c.name}\``, '', c.summary.charAt(0).toUpperCase() + c.summary.slice(1) + '.', '');
    lines.push('```', `tfjs-mae ${c.name} ${c.positionals.map(positionalUsage).join(' ')}${Object.keys(c.flags).length ? ' [flags]' : ''}`.trimEnd(), '```', '');
    if (c.description) lines.push(c.description.trim().replace(/\n/g, ' '), '');
    if (c.positionals.length) {
      lines.push('| argument | meaning |', '|---|---|');
      for (const p of c.positionals) lines.push(`| \`${positionalUsage(p)}\` | ${cell(p.help)} |`);
      lines.push('');
    }
    const flags = Object.entries(c.flags);
    if (flags.length) {
      lines.push('| flag | value | default | meaning |', '|---|---|---|---|');
      for (const [key, spec] of flags) {
        const value = spec.type === 'boolean' ? 'switch' : spec.type === 'choice' ? (spec.choices ?? []).join(' \\| ') : cell(spec.metavar ?? spec.type);
        const dflt = spec.type === 'boolean' ? (spec.default ? 'on' : 'off') : spec.default === undefined ? '—' : `\`${String(spec.default)}\``;
        lines.push(`| \`--${kebab(key)}\` | ${value} | ${dflt} | ${cell(spec.help)} |`);
      }
      lines.push('');
    }
  }
  return lines.join('\n');
}

/** The fixed text above the generated part. */
export const CLI_REFERENCE_INTRO = `
# The \`tfjs-mae\` command

<!-- Generated from src/cli/commands/*.ts by \`npm run docs:cli\`; do not edit by hand. -->

\`tfjs-mae\` (Node ≥ 18) converts and inspects weights, and runs the MAE workflow on your own images:
\`pretrain\`, \`reconstruct\`, \`embed\`, \`finetune\`, \`linprobe\`. Flag names are the official scripts'
(\`main_pretrain.py\`, \`main_finetune.py\`, \`main_linprobe.py\`) in kebab-case; the underscore spelling
(\`--mask_ratio\`) and \`--flag=value\` work too. \`tfjs-mae COMMAND --help\` prints the same tables.

- \`tfjs-mae --version\`, \`tfjs-mae --help\`; every command takes \`--verbose\` (stack traces) and \`--help\`.
- Errors are one line, \`tfjs-mae: …\`, on stderr; exit code 2 for a command-line mistake, 1 for anything else,
  130 when Ctrl-C stopped a training run (after saving a checkpoint).
- **Backends.** Commands that compute take \`--backend auto|wasm|cpu|tensorflow\`. The backends are optional peer
  dependencies of tfjs-mae: install the one you want next to it —
  \`npm install @tensorflow/tfjs-backend-wasm\` (recommended; \`auto\` picks it), \`@tensorflow/tfjs-backend-cpu\`
  (pure JS, slow), or \`@tensorflow/tfjs-node\` (native TensorFlow, Node ≤ 22 with tfjs-node 4.22). A backend that
  is asked for but missing is named in one line with the \`npm install\` to run.
- **Weights.** Every \`--weights FILE\` is read with the model config stored in it (files written by tfjs-mae);
  official \`.pth\` and HuggingFace files have their config inferred from names and shapes, with \`--heads\`,
  \`--decoder-heads\`, \`--norm-pix\` for what shapes cannot tell. A flag that contradicts a stored config is an
  error; a different model is never built silently.
- **Files are written atomically** (a temporary file in the same folder, fsync, rename): a crash or \`kill -9\`
  leaves the previous file or the new one, never half of one.
- **Training runs** (\`pretrain\`) write \`OUTPUT_DIR/log.txt\` (one JSON line per epoch: \`epoch\`, \`train_loss\`,
  \`train_lr\` as the official log, plus \`lr\`, \`steps\`, \`seconds\`), \`checkpoint-<epoch>.safetensors\` (weights under the
  official names, AdamW state, step counters, the model config and the recipe in the metadata; usable as
  \`--weights\` by every command), \`reconstruction-<epoch>.png\` and \`loss.png\`. \`--resume auto\` continues from the
  checkpoint with the most steps, bit for bit, taking the recipe from the checkpoint where the command line is silent.
  \`finetune\` logs \`epoch\`, \`train_loss\`, \`train_lr\`, \`test_loss\`, \`test_acc1\`, \`test_acc5\` (5 classes or more),
  \`max_accuracy\`, writes checkpoints every \`--save-every\` epochs, saves one on Ctrl-C (exit 130) and resumes the same
  way; \`finetune --eval\` only evaluates a classifier on val (top-1, top-5, loss, as \`main_finetune.py --eval\`).
  \`linprobe\` logs the same keys (with \`n_parameters\`), saves the probe and its optimiser state every \`--save-every\`
  epochs and resumes exactly (the frozen features are extracted again). \`finetune\` and \`linprobe\` keep their best
  model as \`checkpoint-best.safetensors\` and write \`dataset.json\` (the class → index map and the files of train and val).
- **Labelled data** (\`finetune\`, \`linprobe\`): \`DATA_DIR/train\` and \`DATA_DIR/val\` with one subfolder per class, as
  the official scripts read ImageNet; or one folder of class subfolders with \`--val-split FRACTION\`, a held-out
  part drawn with \`--seed\`.
- **Memory (wasm).** \`pretrain\` and \`finetune\` estimate the memory of a training step before the first one; on the
  wasm backend (a heap of at most 4 GiB) a run that cannot fit stops at once, naming the model, the estimate, the
  limit and the flags to change. \`TFJS_MAE_WASM_HEAP_LIMIT=BYTES\` makes the check assume a smaller heap.
`;
