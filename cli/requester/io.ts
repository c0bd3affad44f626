/**
 * The commands' Io on a real process: stdout, stderr, the environment, and on a terminal a
 * prompt that reads a line without echoing it (for a keystore's password).
 */
import type { Io } from './args';

/** Reads one line from the terminal with echo off. Ctrl-C aborts the process (exit 130). */
export function hiddenPrompt(question: string): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolve) => {
    process.stderr.write(question);
    let line = '';
    const wasRaw = stdin.isRaw;
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    const done = () => {
      stdin.setRawMode(wasRaw);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          done();
          resolve(line);
          return;
        }
        if (ch === '\u0003') {
          done();
          process.exit(130);
        }
        if (ch === '\u007f' || ch === '\b') line = line.slice(0, -1);
        else if (ch >= ' ') line += ch;
      }
    };
    stdin.on('data', onData);
  });
}

export function processIo(): Io {
  return {
    out: (line) => process.stdout.write(line + '\n'),
    err: (line) => process.stderr.write(line + '\n'),
    env: process.env,
    prompt: process.stdin.isTTY && process.stderr.isTTY ? hiddenPrompt : undefined,
  };
}
