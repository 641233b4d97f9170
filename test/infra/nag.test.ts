import { Validations, type Stack } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { lakehouseApp, removeOutdirs, testEnvironment } from './fixture';

// The checks need the construct tree, not a synthesis: no template is written here.
const apps = {
  'the default environment': lakehouseApp(),
  'an environment on Athena, without the schedule': lakehouseApp({ environment: testEnvironment({ aggregateEngine: 'athena', schedule: { enabled: false } }) }),
};

afterAll(removeOutdirs);

describe.each(Object.entries(apps))('AwsSolutionsChecks on %s', (_, { stacks }) => {
  it.each(Object.entries(stacks))('finds no unacknowledged error or warning in the %s stack', (_, stack) => {
    const { violations } = new AwsSolutionsChecks().validateScope(stack);
    const findings = violations.flatMap((violation) => violation.violatingResources.map((resource) => `${violation.severity} ${violation.ruleName} at ${resource.constructPath}`));
    expect(findings).toEqual([]);
  });

  it.each(Object.entries(stacks))('acknowledges in the %s stack only findings that occur, each where it occurs, with its reason', (_, stack) => {
    const occurring = findingsIgnoringAcknowledgments(stack);
    const stale: string[] = [];
    for (const { path, id, reason } of acknowledgmentsIn(stack)) {
      if (!id.startsWith('AwsSolutions-')) continue;
      expect(reason.length).toBeGreaterThan(40);
      if (!occurring.some((finding) => finding.id === id && (finding.path === path || finding.path.startsWith(`${path}/`)))) stale.push(`${id} at ${path}`);
    }
    expect(stale).toEqual([]);
  });
});

/** Every finding of the pack in `stack`, acknowledged or not. */
function findingsIgnoringAcknowledgments(stack: Stack): { readonly id: string; readonly path: string }[] {
  const pack = new AwsSolutionsChecks();
  // The pack's own check, turned off: what would it report with no acknowledgment at all?
  (pack as unknown as { isAcknowledged: () => boolean }).isAcknowledged = () => false;
  return pack.validateScope(stack).violations.flatMap((violation) => violation.violatingResources.map((resource) => ({ id: violation.ruleName, path: resource.constructPath ?? '' })));
}

function acknowledgmentsIn(stack: Stack): { readonly path: string; readonly id: string; readonly reason: string }[] {
  const found: { path: string; id: string; reason: string }[] = [];
  const visit = (construct: IConstruct) => {
    for (const entry of construct.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, unknown>)) {
        found.push({ path: construct.node.path, id: id.replace(/^[A-Za-z-]+::/, ''), reason: typeof reason === 'string' ? reason : JSON.stringify(reason) });
      }
    }
    construct.node.children.forEach(visit);
  };
  visit(stack);
  return found;
}
