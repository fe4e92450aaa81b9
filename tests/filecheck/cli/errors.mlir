// CLI misuse: one-line errors, no traceback, and no output file left behind on failure.
// RUN: not mlacc compile %S/Inputs/small.attn --workload prompt 2>&1 | filecheck %s --check-prefix=WORKLOAD
// RUN: not mlacc compile %S/Inputs/missing.attn 2>&1 | filecheck %s --check-prefix=MISSING
// RUN: not mlacc compile %S/Inputs/small.attn --emit bogus 2>&1 | filecheck %s --check-prefix=EMIT
// RUN: not mlacc-opt %S/Inputs/small.attn -p no-such-pass 2>&1 | filecheck %s --check-prefix=PASS
// RUN: rm -f %t.out
// RUN: not mlacc compile %S/Inputs/unclosed.attn -o %t.out 2>&1 | filecheck %s --check-prefix=BADINPUT
// RUN: not test -e %t.out

// WORKLOAD: error: no workload 'prompt' in {{.*}}small.attn (it has: d)
// WORKLOAD-NOT: Traceback
// MISSING: error: cannot read '{{.*}}missing.attn': No such file or directory
// EMIT: error: argument --emit: invalid choice: 'bogus'
// PASS: error: unknown pass 'no-such-pass' (passes: absorb, {{.*}}, tile)
// BADINPUT: unclosed.attn:3:1: error: expected
// BADINPUT-NOT: Traceback
