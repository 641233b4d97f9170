import { ExecutionStore } from './execution-store';
import { startTrainedModelEndpoint, type StartModelEndpoint } from './local-model-endpoint';
import { LocalPricing, type LocalPricingOptions } from './local-pricing';
import { LocalWorkflowRunner } from './local-workflow-runner';
import { createLocalPorts, type LocalPorts } from './local-ports';
import { localTasks } from './local-tasks';

type RunnerOptions = ConstructorParameters<typeof LocalWorkflowRunner>[0];

/** Everything a local command needs: the ports, the workflow runner wired to the local tasks, the execution records, the pricing branch. */
export interface LocalRuntime extends LocalPorts {
  readonly runner: LocalWorkflowRunner;
  readonly executions: ExecutionStore;
  readonly pricing: LocalPricing;
}

export interface LocalRuntimeOptions {
  readonly onEvent?: RunnerOptions['onEvent'];
  /** The price model's endpoint. @default the model `lakehouse train-model` published in the lake, if any */
  readonly startModelEndpoint?: StartModelEndpoint;
  readonly delivery?: LocalPricingOptions['delivery'];
  readonly pricing?: LocalPricingOptions['pricing'];
}

export function openLocalRuntime(lake: string, options: LocalRuntimeOptions = {}): LocalRuntime {
  const ports = createLocalPorts(lake);
  const runner = new LocalWorkflowRunner({ lake: ports.lake, tasks: localTasks(ports), onEvent: options.onEvent });
  const pricing = new LocalPricing({
    store: ports.store,
    tables: ports.tables,
    stream: ports.priceSignalsStream,
    startModelEndpoint: options.startModelEndpoint ?? (() => startTrainedModelEndpoint(ports.store)),
    delivery: options.delivery,
    pricing: options.pricing,
  });
  return { ...ports, runner, executions: new ExecutionStore(ports.lake), pricing };
}
