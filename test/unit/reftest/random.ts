// The reference model against the core on random operation sequences (fixed seeds). A
// failure is shrunk and printed as a sequence to paste into regressions.ts.
//   REFTEST_SEEDS=1000 REFTEST_STEPS=500 npx tap --disable-coverage test/unit/reftest/random.ts
//   REFTEST_SEED=123 (the first seed; with REFTEST_SEEDS=1 just that one)
import t from 'tap';
import { generate } from '../../reftest/generate.js';
import { describe, runOps } from '../../reftest/harness.js';
import { shrink } from '../../reftest/shrink.js';

const env = (name: string, fallback: number): number => {
  const v = process.env[name];
  return v === undefined || v === '' ? fallback : Number(v);
};
/** In CI: a few seconds on 2 cores. More on demand through the environment. */
const SEEDS = env('REFTEST_SEEDS', 20);
const STEPS = env('REFTEST_STEPS', 100);
const FIRST = env('REFTEST_SEED', 1);

for (let seed = FIRST; seed < FIRST + SEEDS; seed++) {
  t.test(`seed ${seed}, ${STEPS} steps`, async (t) => {
    const ops = generate(seed, STEPS);
    const failure = await runOps(ops);
    if (!failure) {
      t.pass('the core agrees with the model at every step');
      return;
    }
    const small = await shrink(ops, failure);
    const text = describe(small.ops, small.failure);
    process.stderr.write(`\nseed ${seed} fails (shrunk in ${small.runs} runs):\n${text}\n`);
    t.fail(`seed ${seed}: ${small.failure.message}`, { sequence: text });
  });
}
