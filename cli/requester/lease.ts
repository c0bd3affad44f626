/**
 * GPU rental from the command line (paper 5-2): `emeth lease create` leases N nodes of a class for a
 * duration at an hourly price (the whole lease's Commit signed here), `emeth lease status <id>`
 * shows its nodes and money, `emeth lease end <id>` ends it now (the rest is refunded).
 */
import type { EmethConfig } from '../../lib/config';
import { GatewayClient } from '../gateway-client';
import { readDeployment } from '../../workers/shared/deployment';
import {
  UsageError,
  emeth,
  parseAmount,
  runCommand,
  stringOption,
  type CommandSpec,
  type Io,
  type Parsed,
} from './args';
import { KEY_OPTIONS, loadSigner } from './keys';

const LEASE: CommandSpec = {
  name: 'lease',
  args: 'create | status <id> | end <id>',
  summary:
    'Leases nodes of a class for a duration at an hourly price per node (the whole lease committed from your\ndeposit, paid per period), or reads or ends a lease. Ending early pays the period under way and refunds the rest.',
  options: {
    ...KEY_OPTIONS,
    class: { type: 'string', value: 'name', help: 'capability class of the nodes (default cpu)' },
    nodes: { type: 'string', value: 'N', help: 'how many nodes (default 1)' },
    hours: { type: 'string', value: 'H', help: 'how long, a whole number of periods (e.g. 1 or 0.5)' },
    seconds: { type: 'string', value: 'S', help: 'or the duration in seconds' },
    'hourly-price': {
      type: 'string',
      value: 'EMETH',
      help: 'the price per node per hour, in EMETH (or holon with a "holon" suffix, e.g. 3600holon)',
    },
  },
  positionals: { min: 1, max: 2 },
};

interface LeaseView {
  id: string;
  status: string;
  reason: string | null;
  capabilityClass: string;
  nodeCount: number;
  periods: number;
  periodSeconds: number;
  pricePerPeriod: string;
  budget: string;
  charged: string;
  refunded: string;
  startsAt: string | null;
  endsAt: string | null;
  nodes: { nodeId: string; status: string; paidPeriods: number }[];
}

const leaseId = (text: string | undefined): string => {
  if (!text || !/^0x[0-9a-fA-F]{64}$/.test(text))
    throw new UsageError(`"${text ?? ''}" is not a lease id (0x and 64 hex digits)`);
  return text.toLowerCase();
};

/** --hourly-price in EMETH ("0.5"), or in holon with a suffix ("3600holon"). */
export function hourlyPriceOf(text: string): bigint {
  const holon = /^\s*(\d+)\s*holon\s*$/i.exec(text);
  return holon ? parseAmount(holon[1]!, 0, '--hourly-price') : parseAmount(text, 18, '--hourly-price');
}

function durationOf(p: Parsed): number {
  const hours = stringOption(p, 'hours');
  const seconds = stringOption(p, 'seconds');
  if ((hours === undefined) === (seconds === undefined))
    throw new UsageError('give exactly one of --hours <H> and --seconds <S>: how long to lease');
  const s = hours !== undefined ? Number(hours) * 3600 : Number(seconds);
  if (!Number.isInteger(s) || s < 1)
    throw new UsageError(
      `the duration must be a whole number of seconds ≥ 1, got ${hours !== undefined ? `--hours ${hours}` : `--seconds ${seconds}`}`,
    );
  return s;
}

function nodesOf(p: Parsed): number {
  const v = stringOption(p, 'nodes') ?? '1';
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--nodes must be a whole number ≥ 1, got "${v}"`);
  return n;
}

function describe(l: LeaseView): string[] {
  return [
    `lease ${l.id}: ${l.status}${l.reason ? ` (${l.reason})` : ''}`,
    `  ${l.nodeCount} ${l.capabilityClass} node(s) × ${l.periods} period(s) of ${l.periodSeconds} s at ${emeth(BigInt(l.pricePerPeriod))} per node per period`,
    `  from ${l.startsAt ?? '(not started)'} to ${l.endsAt ?? '(not started)'}`,
    `  budget ${emeth(BigInt(l.budget))}; charged ${emeth(BigInt(l.charged))}, refunded ${emeth(BigInt(l.refunded))}`,
    ...l.nodes.map((n) => `  node ${n.nodeId}: ${n.status}, ${n.paidPeriods} period(s) paid`),
  ];
}

export function lease(argv: string[], config: EmethConfig, io: Io): Promise<number> {
  return runCommand(LEASE, argv, io, async (p) => {
    const [verb, id] = p.positionals;
    const gw = new GatewayClient(config.gateway.url, await loadSigner(p, config, io), config.chain.chainId);
    if (verb === 'status' || verb === 'end') {
      const route = `/v1/leases/${leaseId(id)}`;
      const l = await gw.call<LeaseView>(verb === 'status' ? 'GET' : 'DELETE', route);
      for (const line of describe(l)) io.out(line);
      if (verb === 'end') io.out('  ending: the period under way stays paid, the rest is refunded');
      return;
    }
    if (verb !== 'create')
      throw new UsageError(`unknown "${verb}": emeth lease create | status <id> | end <id>`);
    if (id !== undefined) throw new UsageError(`unexpected "${id}": emeth lease create takes options only`);
    const price = stringOption(p, 'hourly-price');
    if (!price)
      throw new UsageError('emeth lease create needs --hourly-price <EMETH>: the price per node per hour');
    const l = await gw.createLease<LeaseView>(
      {
        capabilityClass: stringOption(p, 'class') ?? 'cpu',
        nodes: nodesOf(p),
        durationSeconds: durationOf(p),
        hourlyPrice: hourlyPriceOf(price).toString(),
      },
      readDeployment(config.chain.deploymentFile).core,
    );
    for (const line of describe(l)) io.out(line);
    io.out(`  follow it: emeth lease status ${l.id}   (end it: emeth lease end ${l.id})`);
  });
}
