import { main } from './main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`instacap: ${(e as Error).message}\n`);
    process.exitCode = 1;
  },
);
