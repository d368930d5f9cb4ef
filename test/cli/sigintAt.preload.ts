/**
 * Preloaded (`node --import`) into a CLI child process by the interrupt
 * tests: the first time a chunk written to stdout matches the regular
 * expression TFJS_MAE_TEST_SIGINT_AT, the process emits SIGINT to itself,
 * synchronously, right after that write. A Ctrl-C at an exact point of the
 * run (e.g. just after a checkpoint was saved), which a signal sent from
 * the test process cannot give: it lands a few steps later under load.
 */
const at = process.env.TFJS_MAE_TEST_SIGINT_AT;
if (at) {
  const pattern = new RegExp(at);
  const write = process.stdout.write.bind(process.stdout) as (...args: unknown[]) => boolean;
  let fired = false;
  process.stdout.write = ((...args: unknown[]) => {
    const done = write(...args);
    if (!fired && pattern.test(String(args[0]))) {
      fired = true;
      process.emit('SIGINT', 'SIGINT');
    }
    return done;
  }) as typeof process.stdout.write;
}
