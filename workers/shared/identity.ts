import { Wallet } from 'ethers';
import type { EmethConfig } from '../../lib/config';
import { participantKey } from '../../lib/participant-key';
import { bindRequestScope, requestScope } from '../../lib/request-auth';
import { readDeployment, type Deployment } from './deployment';

/**
 * Who a participant process is: its key (a 0600 --key-file or EMETH_KEY, never argv), the
 * deployment it works for, and its wallet, whose gateway requests name that gateway and chain.
 */
export function participantIdentity(
  config: EmethConfig,
  role: string,
  values: { key?: string; 'key-file'?: string },
): { key: string; deployment: Deployment; wallet: Wallet } {
  const key = participantKey({
    role,
    keyFile: values['key-file'],
    envKey: config.participantKey,
    argvKey: values.key,
  });
  const deployment = readDeployment(config.chain.deploymentFile);
  const wallet = bindRequestScope(new Wallet(key), requestScope(config.gateway.url, deployment.chainId));
  return { key, deployment, wallet };
}
