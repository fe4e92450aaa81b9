// mlacc hw show --format toml: a hardware file or preset as TOML to copy and edit, which loads back as it was.
// RUN: mlacc hw show %S/../dialects/hw/Inputs/tiny.toml --format toml > %t.toml
// RUN: filecheck %s --input-file %t.toml
// RUN: mlacc hw show %t.toml | filecheck %s --check-prefix=BACK
// A copy of a calibrated preset stays calibrated until one of its fields is changed:
// RUN: mlacc hw show h100 --format toml > %t.h100.toml
// RUN: mlacc hw show %t.h100.toml | filecheck %s --check-prefix=SAME
// RUN: sed 's/^static_power_watts = .*/static_power_watts = 50.0/' %t.h100.toml > %t.edited.toml
// RUN: mlacc hw show %t.edited.toml | filecheck %s --check-prefix=EDITED

// CHECK:      name = "tiny"
// CHECK-NEXT: description = "test accelerator: one 4x4 MAC array, 1 KiB scratchpad, 1 MiB DRAM"
// CHECK-NEXT: frequency_hz = 1000000000.0
// CHECK:      {{\[\[compute\]\]}}
// CHECK-NEXT: name = "array"
// CHECK:      [compute.macs_per_cycle]
// CHECK-NEXT: fp32 = 16
// CHECK:      {{\[\[memory\]\]}}
// CHECK-NEXT: name = "sram"
// CHECK:      [energy.mac_pj]

// BACK:  tiny: test accelerator: one 4x4 MAC array, 1 KiB scratchpad, 1 MiB DRAM
// BACK:  not calibrated: datasheet and literature constants
// SAME:  h100: NVIDIA H100 SXM5 80 GB
// SAME:  static power: 116.4 W
// SAME:  {{^}}  calibrated: efficiency, static power and energy constants measured on the chip
// EDITED: static power: 50 W
// EDITED: not calibrated: the calibrated preset 'h100' with fields changed (an edited copy of its file); its measured constants no longer describe a measured chip
