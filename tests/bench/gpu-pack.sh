#!/usr/bin/env bash
# Builds what tests/bench/gpu-device.sh needs on the GPU machine, which has no Node.js and reaches no
# registry (../shared/docs/performance.md, "On a GPU machine"), under .gl/ (git-ignored; name `.gl` in
# the device tool's `carry`): fixtures/flux-tiny, node.xz (this machine's node binary), node_modules.tar.xz (a minimal
# node_modules: onnxruntime-node with only its linux/x64 binaries, and the pure-JS packages the
# runtime, the CLI and tsx need, with their dependencies), and the Vulkan loader debs. Prints the
# sizes and fails if everything that travels (these files + the tracked tree) is over 64 MiB.
#   bash tests/bench/gpu-pack.sh        (from the repository root)
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
mkdir -p .gl
rm -f .gl/*.deb .gl/node.xz .gl/node_modules.tar.xz

echo "node $(node --version) → .gl/node.xz"
xz -T0 -9 -c "$(command -v node)" > .gl/node.xz

# The packages, with every dependency they declare (optional ones only where installed).
ROOTS="onnxruntime-node onnxruntime-common protobufjs @huggingface/tokenizers zod sharp tsx"
LIST=$(node -e '
  const fs = require("fs"), path = require("path");
  const seen = new Set(), todo = process.argv.slice(1);
  while (todo.length) {
    const name = todo.pop();
    if (seen.has(name)) continue;
    const dir = path.join("node_modules", name);
    if (!fs.existsSync(path.join(dir, "package.json"))) continue;
    seen.add(name);
    const p = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
    for (const d of Object.keys({ ...p.dependencies, ...p.optionalDependencies })) todo.push(d);
  }
  console.log([...seen].sort().map((n) => "node_modules/" + n).join("\n"));
' $ROOTS)
echo "node_modules: $(echo "$LIST" | wc -l) packages"
# onnxruntime-node: only the linux/x64 binaries (the package carries every platform's).
tar -cf - --exclude='node_modules/onnxruntime-node/bin/napi-v6/darwin' --exclude='node_modules/onnxruntime-node/bin/napi-v6/win32' \
  --exclude='node_modules/onnxruntime-node/bin/napi-v6/linux/arm64' --exclude='*.map' --exclude='*.md' \
  $LIST | xz -T0 -9 > .gl/node_modules.tar.xz

# The Vulkan loader (the device README's list); apt's amd64 lists in /tmp so this machine's stay as they are.
mkdir -p /tmp/amd64/partial
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
apt-get $o update -qq
(cd .gl && apt-get $o download -qq libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)

# The reference fixtures: ../shared beside the checkout does not travel to the device machine.
FIX=${SCHNELL_FIXTURES:-../shared/fixtures}
rm -rf .gl/fixtures && mkdir -p .gl/fixtures && cp -r --no-preserve=mode "$FIX/flux-tiny" .gl/fixtures/

ls -l .gl
carry=$(du -sb .gl | cut -f1)
tree=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | grep total\$ | awk '{s+=$1} END {print s}')
total=$((carry + tree))
printf 'carry %.1f MiB + tracked tree %.1f MiB = %.1f MiB (limit 64 MiB)\n' "$(echo "$carry/1048576" | bc -l)" "$(echo "$tree/1048576" | bc -l)" "$(echo "$total/1048576" | bc -l)"
[ "$total" -lt $((64 * 1048576)) ] || { echo "over 64 MiB: leave a package out" >&2; exit 1; }
