import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Acknowledges cdk-nag findings on `construct` and everything under it, with the reason they are
 * accepted there. cdk-nag 3 matches a finding's full id (`AwsSolutions-IAM5[Action::s3:GetObject*]`),
 * so a wildcard finding is acknowledged one by one, each where it arises.
 */
export function acknowledge(construct: IConstruct, reason: string, ...ids: string[]): void {
  for (const id of ids) Validations.of(construct).acknowledge({ id, reason });
}

/** The id of cdk-nag's IAM5 finding for a wildcard resource, as cdk-nag writes it (`<Bucket1234.Arn>/raw/*`). */
export function wildcardResource(scope: IConstruct, resource: string): string {
  return `AwsSolutions-IAM5[Resource::${flattenReference(Stack.of(scope).resolve(resource))}]`;
}

/** The id of cdk-nag's IAM5 finding for a wildcard action. */
export function wildcardAction(action: string): string {
  return `AwsSolutions-IAM5[Action::${action}]`;
}

/** A resolved CloudFormation value flattened as cdk-nag flattens it for finding ids (its flattenCfnReference, which it does not export). */
function flattenReference(node: unknown): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
  if (typeof node === 'object' && node !== null) {
    const value = node as Record<string, unknown>;
    if (value['Fn::Join']) {
      const [delimiter, items] = value['Fn::Join'] as [string, unknown[]];
      return items.map(flattenReference).join(delimiter);
    }
    if (value['Fn::Sub']) return flattenReference(value['Fn::Sub']);
    if (value['Fn::GetAtt']) {
      const [resource, attribute] = value['Fn::GetAtt'] as [unknown, unknown];
      return `<${flattenReference(resource)}.${flattenReference(attribute)}>`;
    }
    if (value['Fn::ImportValue']) return flattenReference(value['Fn::ImportValue']);
    if (value['Ref']) return `<${flattenReference(value['Ref'])}>`;
  }
  return JSON.stringify(node);
}
