// The CDK app (cdk.json: node bin/run-ts.js infra/app.ts). A configuration error is one line, not a stack trace.
import { ConfigError } from './config';
import { createLakehouseApp } from './lakehouse-app';

try {
  createLakehouseApp().app.synth();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`infra: ${error.message}`);
  process.exitCode = 1;
}
