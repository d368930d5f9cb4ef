// Every relative link of README.md must resolve to a file inside the packed
// tarball (the README is read on npmjs.com and in node_modules), and the
// tarball must hold LICENSE. Usage: node readme-links.mjs path/to/tfjs-mae-x.y.z.tgz
import { execFileSync } from 'node:child_process';
import { posix } from 'node:path';

const tarball = process.argv[2];
if (!tarball) throw new Error('usage: node readme-links.mjs TARBALL');
const entries = new Set(execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean));
const readme = execFileSync('tar', ['-xzOf', tarball, 'package/README.md'], { encoding: 'utf8' });

const problems = [];
if (!entries.has('package/LICENSE')) problems.push('LICENSE is not in the tarball');
// [text](target) and ![alt](target); targets without a scheme or a leading '#' are relative paths.
const links = [...readme.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]);
const relative = links.filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t) && !t.startsWith('#'));
for (const target of relative) {
  const path = posix.normalize(posix.join('package', decodeURI(target.split('#')[0])));
  const isDir = [...entries].some((e) => e.startsWith(`${path.replace(/\/$/, '')}/`));
  if (!entries.has(path) && !isDir) problems.push(`README links ${target}, which is not in the tarball`);
}
if (problems.length > 0) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`README links: ${relative.length} relative links, all in the tarball; LICENSE present`);
