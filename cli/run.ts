import { main } from './main.js';

// The reader of our output went away (`instacap stream ... | head`): stop quietly, as Unix tools do.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`instacap: ${(e as Error).message}\n`);
    process.exitCode = 1;
  },
);
