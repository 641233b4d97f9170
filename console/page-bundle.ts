import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { build } from 'esbuild';

/** The page the console serves: its HTML shell, one script (the page's TypeScript with echarts and the map), its styles. */
export interface PageAssets {
  readonly html: Buffer;
  readonly script: Buffer;
  readonly styles: Buffer;
  readonly icon: Buffer;
}

export const PAGE_DIR = path.join(__dirname, 'page');

let bundled: Promise<PageAssets> | undefined;

/**
 * Bundles `page/main.ts` with esbuild (echarts, topojson-client and world-atlas's countries included,
 * so nothing comes from the network at run time), once per process: about a second.
 */
export function pageAssets(): Promise<PageAssets> {
  bundled ??= bundlePage().catch((error: unknown) => {
    bundled = undefined;
    throw error;
  });
  return bundled;
}

async function bundlePage(): Promise<PageAssets> {
  const result = await build({
    entryPoints: [path.join(PAGE_DIR, 'main.ts')],
    bundle: true,
    write: false,
    outfile: 'app.js',
    format: 'iife',
    platform: 'browser',
    target: ['es2022'],
    minify: true,
    // echarts and the map data keep their licence comments, at the end of the file.
    legalComments: 'eof',
    charset: 'utf8',
    logLevel: 'silent',
  }).catch((error: unknown) => {
    throw new Error(`bundling the console page (${path.join(PAGE_DIR, 'main.ts')}) failed: ${(error as Error).message.split('\n')[0]}`, { cause: error });
  });
  const script = result.outputFiles.find((file) => file.path.endsWith('.js'));
  if (script === undefined) throw new Error('bundling the console page produced no script');
  const [html, styles, icon] = await Promise.all(['index.html', 'styles.css', 'icon.svg'].map((file) => fs.readFile(path.join(PAGE_DIR, file))));
  return { html: html!, script: Buffer.from(script.contents), styles: styles!, icon: icon! };
}
