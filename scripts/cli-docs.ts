/** `npm run docs:cli`: writes docs/cli.md from the commands' declarations. */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CLI_REFERENCE_INTRO, cliReference } from '../src/cli/reference';

const target = fileURLToPath(new URL('../docs/cli.md', import.meta.url));
writeFileSync(target, cliReference(CLI_REFERENCE_INTRO));
console.log(`wrote ${target}`);
