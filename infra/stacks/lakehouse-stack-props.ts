import { RemovalPolicy, type StackProps } from 'aws-cdk-lib';
import type { LakehouseConfig } from '../config';

/** What every stack of the app takes: the environment's settings. */
export interface LakehouseStackProps extends StackProps {
  readonly config: LakehouseConfig;
}

export function removalPolicyOf(config: LakehouseConfig): RemovalPolicy {
  return config.removalPolicy === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
}
