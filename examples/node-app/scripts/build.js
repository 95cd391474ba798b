// `npm run build`: src/*.js -> dist/*.js with whole-line comments, blank lines and
// indentation removed.  A stand-in for a real bundler or compiler (no dependencies).
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const src = path.join(root, 'src');
const dist = path.join(root, 'dist');

fs.rmSync(dist, { recursive: true, force: true });
fs.mkdirSync(dist);
for (const name of fs.readdirSync(src).filter((n) => n.endsWith('.js')).sort()) {
  const text = fs.readFileSync(path.join(src, name), 'utf8');
  const out = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('//'))
    .join('\n');
  fs.writeFileSync(path.join(dist, name), out + '\n');
  console.log(`${path.join('src', name)} -> ${path.join('dist', name)} (${text.length} -> ${out.length + 1} bytes)`);
}
