#!/usr/bin/env bash
# The sweep under `mpirun -n 2` gives the single-process result byte for byte; with the caches off,
# `mpirun -n 3` at 2 threads per process gives the single-process result with the caches off.
# Usage: sweep_mpi.sh GPUHOURS MPIEXEC OUTDIR
set -euo pipefail
gpuhours=$1 mpiexec=$2 out=$3
mkdir -p "$out"
args=(sweep llama-3-405b --top 10 --json --vary gpus=1024,2048 --vary tp=4,8 --vary pp=8,16
      --vary micro_batch=1,2 --vary recompute=selective,full --vary zero=1,2,3
      --vary schedule=1f1b,zb-h1,dualpipev --vary global_batch=256,512)
"$gpuhours" "${args[@]}" --threads 2 > "$out/sweep-single.json"
# Open MPI refuses root unless told; --oversubscribe lets 2 processes run on fewer cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$mpiexec" -n 2 --oversubscribe "$gpuhours" "${args[@]}" --threads 1 > "$out/sweep-mpi.json"
cmp "$out/sweep-single.json" "$out/sweep-mpi.json"
grep -q '"simulated"' "$out/sweep-mpi.json"
small=(sweep llama-3-405b --top 5 --json --vary tp=4,8 --vary pp=8,16 --vary micro_batch=1,2 --vary zero=1,3
       --vary schedule=1f1b,dualpipev --no-cache)
"$gpuhours" "${small[@]}" --threads 1 > "$out/sweep-single-no-cache.json"
"$mpiexec" -n 3 --oversubscribe "$gpuhours" "${small[@]}" --threads 2 > "$out/sweep-mpi-no-cache.json"
cmp "$out/sweep-single-no-cache.json" "$out/sweep-mpi-no-cache.json"
grep -q '"programs_reused": 0' "$out/sweep-mpi-no-cache.json"
echo "identical: $(wc -c < "$out/sweep-mpi.json") bytes"
