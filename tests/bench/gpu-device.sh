#!/usr/bin/env bash
# Issue 12's device work in one call: on the GPU machine (carry `.gl`, built here by
# tests/bench/gpu-pack.sh), unpack node, node_modules and the Vulkan loader, then
#   1. `schnell devices --probe` and `schnell conformance <flux-tiny> --device webgpu --json`
#      (float16 tolerance: FLOAT16_RELATIVE_L2 in runtime/flux/conformance.ts);
#   2. one transformer step at 1024² (4096 + 256 tokens) on a full-width FLUX (hidden 3072, 24 heads,
#      2 double + 4 single blocks, random FP8 weights in the BFL layout, `schnell demo-model --size full`)
#      through `bench:runtime --device webgpu`, per step and per block type, and GPU memory for FP8
#      versus float16 weights (nvidia-smi);
#   3. the same configuration in PyTorch (bf16, tests/bench/gpu-torch.py) on the same card.
# Everything lands as JSON under $OUT; gpu-<card>-<date>.json holds it all, for
# tests/bench/results/. Each step has its own time limit, so one that hangs leaves the others' JSON.
#   device run:  bash tests/bench/gpu-device.sh                       (carry: [".gl"], timeout_s 600)
#   dry run here: DEVICE=cpu SIZE=256 RUNS=1 DOUBLE=1 SINGLE=1 bash tests/bench/gpu-device.sh
set -uo pipefail
ROOT=$(pwd)
DEVICE=${DEVICE:-webgpu} SIZE=${SIZE:-1024} RUNS=${RUNS:-3} DOUBLE=${DOUBLE:-2} SINGLE=${SINGLE:-4}
OUT=${OUT:-$ROOT/.tmp/gpu-out}
W=${WORK:-/tmp/schnell-gpu}
mkdir -p "$OUT" "$W"
exec > >(tee -a "$OUT/log.txt") 2>&1
step() { echo; echo "== $(date -u +%T) $*"; }
LIMIT=${LIMIT:-570}   # seconds this script may take in all (the device call allows 600)
left() { local l=$((LIMIT - SECONDS)); [ $l -gt 30 ] && echo $l || echo 30; }
CONF_CMD="" BENCH_ARGS="" TORCH_CMD=""
# The merged JSON, rewritten after every step, so a call cut off at its limit still brings it back.
report() {
node -e '
  const fs = require("fs"); const [out, card, date, ...cmds] = process.argv.slice(1);
  const read = (f) => { try { return JSON.parse(fs.readFileSync(out + "/" + f, "utf8")); } catch { return null; } };
  const slug = (card || "nocard").toLowerCase().replace(/nvidia/g, "").replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
  const r = { card: card || null, date, commands: { conformance: cmds[0], bench: cmds[1], torch: cmds[2] },
    devices: read("devices.json"), conformance: read("conformance.json"), runtime: read("ort.json"), torch: read("torch.json") };
  const file = `${out}/gpu-${slug}-${date}.json`; fs.writeFileSync(file, JSON.stringify(r, null, 2)); console.log("wrote", file);
' "$OUT" "$CARD" "$(date -u +%F)" "$CONF_CMD" "npm run bench:runtime -- $BENCH_ARGS" "$TORCH_CMD"
}

step unpack
if [ "$DEVICE" != cpu ]; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  ldconfig -p | grep -q libvulkan || echo "no libvulkan after unpacking the debs"
fi
if ! command -v node >/dev/null; then xz -dc .gl/node.xz > "$W/node" && chmod +x "$W/node"; export PATH="$W:$PATH"; fi
[ -d node_modules/onnxruntime-node ] || tar -xJf .gl/node_modules.tar.xz -C "$ROOT"
node --version
FIX=${FIXTURES:-$( [ -d .gl/fixtures/flux-tiny ] && echo .gl/fixtures/flux-tiny || echo ../shared/fixtures/flux-tiny )}
CARD=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
nvidia-smi 2>/dev/null | head -15
export SCHNELL_HOME="$W/home"

step devices
timeout $(left) node bin/schnell.mjs devices --probe --json > "$OUT/devices.json"; echo "rc $?"; cat "$OUT/devices.json"

step conformance "$FIX" --device "$DEVICE"
RECIPE=""; [ "$DEVICE" = cpu ] && RECIPE="--recipe webgpu"   # the dry run checks the GPU graphs on the CPU
CONF_CMD="schnell conformance $FIX --device $DEVICE $RECIPE --json"
timeout $(left) node bin/schnell.mjs conformance "$FIX" --device "$DEVICE" $RECIPE --json > "$OUT/conformance.json"; echo "rc $?"
node -e 'const r=require(process.argv[1]);console.log("ok",r.ok,r.provider,r.compute,r.fallbackReason??"");for(const[k,c]of Object.entries(r.cases))console.log(c.ok?"PASS":"FAIL",k,c.relative_l2??c.latents_relative_l2??"",c.error??"")' "$OUT/conformance.json"
report

step "full-width model: $DOUBLE double + $SINGLE single blocks"
timeout $(left) node bin/schnell.mjs demo-model --out "$W/model" --size full --double-blocks "$DOUBLE" --single-blocks "$SINGLE" --t5-layers 1 | tail -2
TR="$W/model/flux1-schnell-demo-untrained.safetensors"

step "PyTorch, same configuration"
TORCH_CMD="python3 tests/bench/gpu-torch.py --hidden 3072 --heads 24 --double $DOUBLE --single $SINGLE --size $SIZE --text 256 --runs $RUNS --dtype bfloat16"
if python3 -c 'import torch' 2>/dev/null; then
  PYTHONUNBUFFERED=1 timeout $(left) $TORCH_CMD --json "$OUT/torch.json"; echo "rc $?"
else echo "no torch here: PyTorch side left out"; fi
report

step "bench:runtime --device $DEVICE"
BENCH_ARGS="--device $DEVICE --transformer $TR --size $SIZE --text 256 --runs $RUNS --torch $OUT/torch.json --json $OUT/ort.json"
[ "$DEVICE" = cpu ] && BENCH_ARGS="$BENCH_ARGS --recipe webgpu"
timeout $(left) node --import tsx tests/bench/runtime.ts $BENCH_ARGS; echo "rc $?"

report
ls -l "$OUT"
