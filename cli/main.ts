import { createProgram } from './program';

createProgram()
  .parseAsync(process.argv)
  .catch((error: unknown) => {
    process.stderr.write(`lakehouse: ${(error as Error).message}\n`);
    process.exitCode = 1;
  });
