import { ExecutionStore } from './execution-store';
import { LocalWorkflowRunner } from './local-workflow-runner';
import { createLocalPorts, type LocalPorts } from './local-ports';
import { localTasks } from './local-tasks';

type RunnerOptions = ConstructorParameters<typeof LocalWorkflowRunner>[0];

/** Everything a local command needs: the ports, the workflow runner wired to the local tasks, the execution records. */
export interface LocalRuntime extends LocalPorts {
  readonly runner: LocalWorkflowRunner;
  readonly executions: ExecutionStore;
}

export function openLocalRuntime(lake: string, options: { onEvent?: RunnerOptions['onEvent'] } = {}): LocalRuntime {
  const ports = createLocalPorts(lake);
  const runner = new LocalWorkflowRunner({ lake: ports.lake, tasks: localTasks(ports), onEvent: options.onEvent });
  return { ...ports, runner, executions: new ExecutionStore(ports.lake) };
}
