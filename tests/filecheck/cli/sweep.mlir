// mlacc sweep: CSV on stdout, a row per (point, layer, scheme); --set names the hypothetical chip; errors in one line.
// RUN: mlacc sweep %S/Inputs/small.attn --hw %S/../dialects/hw/Inputs/tiny.toml --batch 1,2 -q | filecheck %s
// RUN: mlacc sweep %S/Inputs/small.attn --hw %S/../dialects/hw/Inputs/tiny.toml --scheme auto --set dram.read_bandwidth_bytes_per_cycle=8..16:x2 -q | filecheck %s --check-prefix=SET
// RUN: not mlacc sweep %S/Inputs/small.attn --hw %S/../dialects/hw/Inputs/tiny.toml --set dram.read_bandwith=16 2>&1 | filecheck %s --check-prefix=BAD
// RUN: not mlacc sweep %S/Inputs/small.attn --context 1k..128:x2 2>&1 | filecheck %s --check-prefix=RANGE
// A layout a layer cannot take is a row that says why (MLA's 2 heads over tp 4), not an aborted sweep; GQA's 2 KV
// heads are copied on 2 GPUs each:
// RUN: mlacc sweep %S/Inputs/small.attn --hw h200x8 --tp 1,4 --scheme auto -q | filecheck %s --check-prefix=SKIP
// RUN: mlacc sweep %S/Inputs/small.attn --hw h200x8 --tp 1,4 --scheme auto -q 2>&1 >/dev/null | filecheck %s --check-prefix=SKIPPED
// A file with MLP/MoE layers is one model: each layer's row says its kind, and the attention layer's row carries the
// whole step (its layers, the norms, the embedding lookup and the LM head) as step_* columns:
// RUN: mlacc sweep %S/../transforms/shard/Inputs/step.attn --hw %S/../dialects/hw/Inputs/tiny.toml --workload d -q | filecheck %s --check-prefix=MODEL

// CHECK:      layer,workload,phase,batch,context,new_tokens,scheme,hardware,cycles,seconds,energy_pj,energy_mac_pj,energy_sram_pj,energy_dram_pj,flops,dram_bytes,kv_cache_bytes,weight_bytes,bound,calibrated,resident_bytes,fits,max_batch,tp,dp,auto_choice
// CHECK-NEXT: m,d,decode,1,6,1,recompute,tiny,{{[0-9.e+-]+}},{{[0-9.e+-]+}},{{.*}},dram,false,{{[0-9]+}},true,{{[0-9]+}},1,1,true
// CHECK-NEXT: m,d,decode,1,6,1,reuse,tiny,{{.*}},false
// CHECK-NEXT: m,d,decode,1,6,1,expand,tiny,{{.*}},false
// CHECK-NEXT: m,d,decode,1,6,1,cache-kv,tiny,{{.*}},false
// CHECK-NEXT: g,d,decode,1,6,1,-,tiny,{{.*}},true
// CHECK-NEXT: m,d,decode,2,6,1,recompute,tiny,3420.0,3.42e-06,2690592.0,49088.0,55904.0,2585600.0,25168,25856.0,1120,22720,dram,false,24864,true,956,1,1,true

// SET:      layer,workload,phase,batch,context,new_tokens,scheme,hardware,
// SET-NEXT: m,d,decode,2,6,1,recompute,tiny[dram.read_bandwidth_bytes_per_cycle=8],{{.*}},true
// SET-NEXT: g,d,decode,2,6,1,-,tiny[dram.read_bandwidth_bytes_per_cycle=8],{{.*}},true
// SET-NEXT: m,d,decode,2,6,1,recompute,tiny[dram.read_bandwidth_bytes_per_cycle=16],{{.*}},true
// SET-NEXT: g,d,decode,2,6,1,-,tiny[dram.read_bandwidth_bytes_per_cycle=16],{{.*}},true
// SET-NOT:  {{.}}

// BAD: error: --set: 'tiny' has no field 'dram.read_bandwith'; the closest is 'dram.read_bandwidth_bytes_per_cycle'
// BAD-NOT: {{.}}
// RANGE: error: --context: range '1k..128:x2' ends below its start

// SKIP:      layer,workload,phase,batch,context,new_tokens,scheme,hardware,{{.*}},tp,dp,auto_choice,skipped,{{.*}},kv_head_replicas
// SKIP-NEXT: m,d,decode,2,6,1,reuse,h200x8,{{.*}},1,1,true,,,,
// SKIP-NEXT: g,d,decode,2,6,1,-,h200x8,{{.*}},1,1,true,,,,
// SKIP-NEXT: m,d,decode,2,6,1,,h200x8,,,,{{.*}},4,1,,"layer 'm' has 2 heads, which tp 4 does not divide: tp must divide the heads",,,
// SKIP-NEXT: g,d,decode,2,6,1,-,h200x8,{{.*}},4,1,true,,{{[0-9.]+}},{{[0-9]+}},2
// SKIPPED:   sweep: 1 of 4 rows skipped (column 'skipped'), e.g.: layer 'm' has 2 heads, which tp 4 does not divide: tp must divide the heads

// MODEL:      layer,kind,workload,{{.*}},max_batch,layers,tp,dp,step_scope,step_seconds,step_energy_pj,step_energy_pj_per_gpu,step_tokens,step_gpus,step_tokens_per_second,step_tokens_per_second_per_gpu,step_a_seconds,step_up_seconds,step_norms_seconds,step_embedding_seconds,step_lm_head_seconds,auto_choice
// MODEL-NEXT: a,gqa,d,decode,2,4,1,-,tiny,{{.*}},2,1,1,"attention, MLP/MoE layers, norms, embedding lookup and LM head timed",{{.*}},2,1,{{.*}},true
// MODEL-NEXT: up,mlp,d,decode,2,4,1,-,tiny,{{.*}},2,1,1,,,,,,,,,,,,,,true
// MODEL-NOT:  {{.}}
