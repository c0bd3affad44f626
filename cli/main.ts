import { parseArgs } from 'node:util';
import { loadConfig } from '../lib/config';
import { EmethError } from '../lib/errors';
import { up } from './up';
import { demo } from './demo';

const USAGE = `usage: emeth <command> [options]

commands:
  up                 start the embedded stack (Temporal, anvil + contracts, database, L2 worker, gateway)
                     and keep it running until Ctrl-C
  demo [--keep]      start the stack, run the demo through it, print where to look, then stop
                     (--keep: stay up afterwards)
  node start [--key-file <file>] [--class cpu] [--stake 100] [--min-holon-per-gas 0] [--redeem-max-wait 3600]
                     run a GPU node worker: stake, take SubJobs, redeem tickets
  node setup-gpu     fetch onnxruntime-node's CUDA execution provider (GPU hosts with network access)
  verifier start [--key-file <file>]
                     run a verifier worker on emeth-verifier
  keyholder start [--key-file <file>] [--dir <keys dir>]
                     run a requester's keyholder: creates and keeps the CKKS secret key, opens
                     training aggregates
  keyholder open-stats [--key-file <file>] [--dir <keys dir>] <jobId>
                     decrypt a finished encrypted-stats Job's result and print it as JSON
  submit [--key-file <file>] --dataset <file> --model <file> [--parallel 6] [--fuel-limit N] [--fuel-price holon]
                     submit an onnx-inference Job through the gateway and follow it
  status [--key-file <file>] <jobId>
                     a Job's status with a live progress bar
  help               this text

Private keys come from EMETH_KEY or a --key-file only its owner can read (chmod 600), never from the
command line (ps shows every process's arguments).
Configuration comes from EMETH_* environment variables; see the README's table.`;

const out = (line: string) => process.stdout.write(line + '\n');

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
      if (sub === 'setup-gpu') {
        const { spawnSync } = await import('node:child_process');
        return (
          spawnSync(process.execPath, [require.resolve('../scripts/setup-gpu.cjs'), ...args], {
            stdio: 'inherit',
          }).status ?? 1
        );
      }
      process.stderr.write(
        'emeth: usage: emeth node start [--key-file <file>] [--class cpu] | emeth node setup-gpu\n',
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
      return (await import('./submit')).submit(loadConfig(), rest, out);
    case 'status':
      return (await import('./submit')).status(loadConfig(), rest, out);
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
