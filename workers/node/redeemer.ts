// The node's redeemer is the one every payee runs (workers/shared/redeemer.ts).
export { createRedeemer, startRedeemer, type RedeemerOptions } from '../shared/redeemer';
