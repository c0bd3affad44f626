// Every workflow the L2 worker runs. The worker bundles this file; keep it free of side effects.
export { wiringWorkflow } from './wiring';
export { jobWorkflow } from './job';
export { subJobWorkflow, canaryWorkflow } from './subjob';
export { signerWorkflow } from './signer';
export { reconcilerWorkflow } from './reconciler';
export { miningEpochWorkflow } from './mining';
export { l1CleanupWorkflow } from './layers';
export { deploymentWorkflow } from './deployment';
export { leaseWorkflow } from './lease';
