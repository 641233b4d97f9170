import { runCli, type CliDependencies } from '../../cli/program';
import type { CliResult } from './run-cli';

/**
 * Runs `lakehouse` in this process, so that module mocks (aws-sdk-client-mock) reach it, with what it writes to
 * stdout and stderr captured rather than printed.
 */
export async function lakehouseInProcess(args: readonly string[], deps: CliDependencies = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const capture = (append: (text: string) => void) => (chunk: unknown, ...rest: unknown[]) => {
    append(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
    const callback = rest.find((argument) => typeof argument === 'function') as (() => void) | undefined;
    callback?.();
    return true;
  };
  const out = jest.spyOn(process.stdout, 'write').mockImplementation(capture((text) => (stdout += text)) as typeof process.stdout.write);
  const err = jest.spyOn(process.stderr, 'write').mockImplementation(capture((text) => (stderr += text)) as typeof process.stderr.write);
  try {
    const status = await runCli(args, deps);
    return { status, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}
