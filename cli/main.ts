import { parseArgs } from 'node:util';
import { loadConfig } from '../lib/config';
import { EmethError } from '../lib/errors';
import { up } from './up';
import { demo } from './demo';
import { processIo } from './requester/io';

const USAGE = `usage: emeth <command> [options]

commands:
  up                 start the embedded stack (Temporal, anvil + contracts, database, L2 worker, gateway)
                     and keep it running until Ctrl-C
  demo [--keep]      start the stack, run the demo through it, print where to look, then stop
                     (--keep: stay up afterwards)
  node start [--key-file <file>] [--class cpu] [--stake 100] [--min-holon-per-gas 0] [--redeem-max-wait 3600]
                     run a GPU node worker: stake, take SubJobs, redeem tickets
  node setup-gpu     fetch onnxruntime-node's CUDA execution provider (GPU hosts with network access)
  verifier start [--key-file <file>] [--stake 100] [--audit-only] [--min-holon-per-gas 0] [--redeem-max-wait 3600]
                     run a verifier worker on emeth-verifier and its own queue (audits, disputes);
                     it stakes (a wrong verdict is fined) and redeems its own fee tickets
  keyholder start [--key-file <file>] [--dir <keys dir>]
                     run a requester's keyholder: creates and keeps the CKKS secret key, opens
                     training aggregates
  keyholder open-stats [--key-file <file>] [--dir <keys dir>] <jobId>
                     decrypt a finished encrypted-stats Job's result and print it as JSON
  submit [--keystore <file> | --key-file <file>] --dataset <file> --model <file> [--parallel 6] [--fuel-limit N] [--fuel-price holon]
         [--inputs '{"X": "pixel_*"}'] [--outputs label,probabilities] [--format npy|npz|csv|parquet|emtx] [--detach]
         [--layer l2|l1]
                     submit an onnx-inference Job through the gateway and follow it (any ONNX export; data
                     as .npy, .npz, CSV, Parquet or EMTX: see the README's "Bring your model"); --layer l1
                     runs every step on EmethCore (paper 7-2) and prints each step's transaction
  status [--keystore <file> | --key-file <file>] <jobId>
                     a Job's status with a live progress bar

the requester's and node's money and Jobs (each takes --keystore <file> or --key-file <file>, and --help):
  keys new --keystore <file>
                     create a key in an encrypted keystore (0600) and print its address
  keys address       the address of the key the commands would use
  deposit <EMETH>    approve and deposit EMETH on EmethCore (decimal, like 12.5)
  withdraw [<EMETH>] request a withdrawal (default: the whole free deposit); once the delay has
                     passed, \`emeth withdraw\` pays it
  balance [--address <a>]
                     wallet, deposit, committed, pending withdrawal and free, in EMETH
  jobs [--status <s>] [--limit N]
                     your Jobs: id, program, status, created, fee
  result <jobId> -o <file> [--format npy|npz|csv]
                     download a Job's result (format from --format or the file's extension)
  cancel <jobId>     cancel a Job
  deploy <model.onnx> --budget <EMETH> --price-per-request <EMETH> [--replicas N] [--min N] [--max N] [--class cpu]
                     deploy a model on warm replicas (paper 5-1); \`deploy status|scale|stop <id>\` follow,
                     scale (--replicas/--min/--max) and stop it (the rest of the budget is refunded)
  infer <deploymentId> --input <file.npy|file.json> [-o <out.npy>]
                     one request to a deployment, answered synchronously (or --json '{"inputs": …}')
  lease create --class <c> --nodes N --hours H --hourly-price <EMETH>
                     lease N nodes of a class (paper 5-2), paid per period from your deposit;
                     \`lease status|end <id>\` follow it and end it early (the rest is refunded)
  node status [--address <a>]
                     stake, locked, unstaking, earned, penalties, tickets pending
  node unstake [<EMETH>]
                     request to unstake (default: all free stake); after the cooldown it pays
  node rewards [--claim]
                     GPU Mining Program rewards per epoch (fuel, pool, amount, claimed); --claim claims
                     every unclaimed epoch in one claimMany with the node's own key
  help               this text

Private keys come from an encrypted --keystore (password in EMETH_KEYSTORE_PASSWORD or typed at a
hidden prompt), from EMETH_KEY, or from a --key-file only its owner can read (chmod 600), never from
the command line (ps shows every process's arguments): --key and --password are refused.
Configuration comes from EMETH_* environment variables; see the README's table.`;

const out = (line: string) => process.stdout.write(line + '\n');

/** The lines of USAGE about one command (its line and the indented lines under it). */
function usageOf(command: string): string {
  const lines = USAGE.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`  ${command} `));
  let end = start + 1;
  while (end < lines.length && lines[end]!.startsWith('       ')) end++;
  return `usage: emeth ${lines.slice(start, end).join('\n').trimStart()}`;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'up': {
      parseArgs({ args: rest, options: {}, strict: true });
      return up(loadConfig(), { env: process.env, out });
    }
    case 'demo': {
      const { values } = parseArgs({
        args: rest,
        options: { keep: { type: 'boolean', default: false } },
        strict: true,
      });
      return demo(loadConfig(), { keep: values.keep ?? false, env: process.env, out });
    }
    case 'node': {
      const [sub, ...args] = rest;
      if (sub === 'start') {
        await (await import('../workers/node/main')).runNode(args);
        return 0;
      }
      if (sub === 'status')
        return (await import('./requester/node')).nodeStatus(args, loadConfig(), processIo());
      if (sub === 'unstake')
        return (await import('./requester/node')).nodeUnstake(args, loadConfig(), processIo());
      if (sub === 'rewards')
        return (await import('./requester/node')).nodeRewards(args, loadConfig(), processIo());
      if (sub === 'setup-gpu') {
        const { spawnSync } = await import('node:child_process');
        return (
          spawnSync(process.execPath, [require.resolve('../scripts/setup-gpu.cjs'), ...args], {
            stdio: 'inherit',
          }).status ?? 1
        );
      }
      process.stderr.write(
        'emeth: usage: emeth node start [--key-file <file>] [--class cpu] | emeth node status | emeth node unstake [<EMETH>] | emeth node rewards [--claim] | emeth node setup-gpu\n',
      );
      return 2;
    }
    case 'verifier': {
      const [sub, ...args] = rest;
      if (sub !== 'start') {
        process.stderr.write('emeth: usage: emeth verifier start [--key-file <file>]\n');
        return 2;
      }
      await (await import('../workers/verifier/main')).runVerifier(args);
      return 0;
    }
    case 'keyholder': {
      const [sub, ...args] = rest;
      if (sub === 'open-stats') return (await import('./open-stats')).openStatsCommand(args, out);
      if (sub !== 'start') {
        process.stderr.write(
          'emeth: usage: emeth keyholder start|open-stats [--key-file <file>] [--dir <keys dir>] [<jobId>]\n',
        );
        return 2;
      }
      await (await import('../workers/keyholder/main')).runKeyholder(args);
      return 0;
    }
    case 'submit':
    case 'status': {
      if (rest.includes('--help') || rest.includes('-h')) {
        out(usageOf(command));
        return 0;
      }
      // A --keystore stands in for --key-file/EMETH_KEY here too.
      const keyed = await (
        await import('./requester/keys')
      ).keystoreAsParticipantKey(rest, loadConfig(), processIo());
      const run = (await import('./submit'))[command];
      return run(keyed.config, keyed.argv, out);
    }
    case 'keys':
      return (await import('./requester/keys')).keysCommand(rest, loadConfig(), processIo());
    case 'deposit':
      return (await import('./requester/money')).deposit(rest, loadConfig(), processIo());
    case 'withdraw':
      return (await import('./requester/money')).withdraw(rest, loadConfig(), processIo());
    case 'balance':
      return (await import('./requester/money')).balance(rest, loadConfig(), processIo());
    case 'jobs':
      return (await import('./requester/jobs')).jobs(rest, loadConfig(), processIo());
    case 'result':
      return (await import('./requester/jobs')).result(rest, loadConfig(), processIo());
    case 'cancel':
      return (await import('./requester/jobs')).cancel(rest, loadConfig(), processIo());
    case 'deploy':
      return (await import('./requester/deploy')).deploy(rest, loadConfig(), processIo());
    case 'infer':
      return (await import('./requester/deploy')).infer(rest, loadConfig(), processIo());
    case 'lease':
      return (await import('./requester/lease')).lease(rest, loadConfig(), processIo());
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      out(USAGE);
      return 0;
    default:
      process.stderr.write(`emeth: unknown command "${command}"; run \`emeth help\` for the list\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    // Our own errors already say what to do: print them as one sentence. Others get the stack.
    if (
      err instanceof EmethError ||
      (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))
    ) {
      process.stderr.write(`emeth: ${err.message}\n`);
    } else {
      process.stderr.write(`emeth: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
    process.exit(1);
  },
);
