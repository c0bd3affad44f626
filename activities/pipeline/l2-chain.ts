export { createL2Chain, type L2Chain } from '../chain';
