// absorb{scheme=auto} needs the hardware cost model (issue #4); until then it fails with a clear error.
// RUN: not mlacc-opt %s -p 'absorb{scheme=auto}' 2>&1 | filecheck %s
// RUN: not mlacc-opt %s -p 'absorb{scheme=fastest}' 2>&1 | filecheck %s --check-prefix=UNKNOWN

builtin.module {
}

// CHECK:     error: absorb{scheme=auto} needs the hardware cost model, which is not built yet: choose one of recompute, reuse, expand, cache-kv
// CHECK-NOT: Traceback
// UNKNOWN:   error: {{.*}}fastest
// UNKNOWN-NOT: Traceback
