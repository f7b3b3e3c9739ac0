// Bundles src/ into dist/ (index.html + assets/app.js + assets/app.css).
// JsSIP ships lib/ only on npm, so esbuild makes the browser bundle.
import { build } from 'esbuild';
import { mkdirSync, copyFileSync, rmSync } from 'node:fs';

const out = new URL('./dist/', import.meta.url).pathname;
rmSync(out, { recursive: true, force: true });
mkdirSync(out + 'assets', { recursive: true });
await build({
  entryPoints: ['src/main.js'],
  bundle: true,
  minify: true,
  sourcemap: true,
  format: 'iife',
  target: ['chrome110', 'firefox110', 'safari16'],
  outfile: out + 'assets/app.js',
  define: { 'process.env.NODE_ENV': '"production"' },
  logLevel: 'warning',
});
copyFileSync('src/app.css', out + 'assets/app.css');
copyFileSync('src/index.html', out + 'index.html');
console.log('web: built dist/');
