import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { MODEL_FILE_NAME, parseModel } from './demand/artifact';
import { createModelServer } from './server';

/**
 * The container's entry point, as SageMaker runs it (`docker run <image> serve`): loads the model
 * that SageMaker unpacked into the model directory, then serves on all interfaces at the port
 * SageMaker names (`SAGEMAKER_BIND_TO_PORT` in an inference pipeline, 8080 otherwise). Exits on
 * SIGTERM once open requests are answered (SageMaker sends SIGKILL 30 s later).
 */

const DEFAULT_PORT = 8080;
const DEFAULT_MODEL_DIR = '/opt/ml/model';

function main(argv: readonly string[], env: NodeJS.ProcessEnv): void {
  const [command = 'serve'] = argv;
  if (command !== 'serve') throw new Error(`unknown command "${command}"; this image only serves (docker run <image> serve)`);
  const port = Number(env.SAGEMAKER_BIND_TO_PORT ?? DEFAULT_PORT);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new Error(`SAGEMAKER_BIND_TO_PORT must be a port number, got "${env.SAGEMAKER_BIND_TO_PORT}"`);
  const modelFile = path.join(env.SM_MODEL_DIR ?? DEFAULT_MODEL_DIR, MODEL_FILE_NAME);
  const model = parseModel(readFileSync(modelFile, 'utf8'), modelFile);

  const server = createModelServer({ model });
  server.once('error', fail);
  server.listen(port, '0.0.0.0', () => process.stdout.write(`serving demand model ${model.version} on port ${port}\n`));
  process.once('SIGTERM', () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
  });
}

function fail(error: unknown): never {
  process.stderr.write(`serve: ${(error as Error).message}\n`);
  process.exit(1);
}

try {
  main(process.argv.slice(2), process.env);
} catch (error) {
  fail(error);
}
