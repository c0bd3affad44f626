import type { Provider } from 'ethers';
import { emethToken } from '../contracts/typed';
import type { PrismaClient } from '../prisma/client';
import type { ChainSnapshot, WiringActivities, WiringResult } from '../lib/wiring';

export interface WiringDeps {
  prisma: PrismaClient;
  provider: Provider;
  tokenAddress: string;
}

export function createWiringActivities({ prisma, provider, tokenAddress }: WiringDeps): WiringActivities {
  return {
    async readChain(): Promise<ChainSnapshot> {
      const token = emethToken(tokenAddress, provider);
      const [network, blockNumber, supply] = await Promise.all([
        provider.getNetwork(),
        provider.getBlockNumber(),
        token.totalSupply(),
      ]);
      return { chainId: Number(network.chainId), blockNumber, tokenAddress, tokenSupply: supply.toString() };
    },

    async recordWiringCheck(checkId: string, s: ChainSnapshot): Promise<WiringResult> {
      const row = await prisma.wiringCheck.upsert({
        where: { id: checkId },
        create: {
          id: checkId,
          chainId: s.chainId,
          blockNumber: BigInt(s.blockNumber),
          tokenAddress: s.tokenAddress,
          tokenSupply: s.tokenSupply,
        },
        update: {},
      });
      return {
        checkId: row.id,
        chainId: row.chainId,
        blockNumber: Number(row.blockNumber),
        tokenAddress: row.tokenAddress,
        tokenSupply: row.tokenSupply,
        recordedAt: row.createdAt.toISOString(),
      };
    },
  };
}
