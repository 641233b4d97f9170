import * as path from 'node:path';

/** The repository's root: the project root of every function's bundling, and the Docker build context of the model image. */
export const REPO_ROOT = path.resolve(__dirname, '..');
