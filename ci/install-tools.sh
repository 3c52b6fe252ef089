#!/usr/bin/env bash
# Install the pinned kind and a kubectl matching the Kubernetes version under
# test into $BIN_DIR (default: /usr/local/bin), each checked against the
# checksum its project publishes. Used by .github/actions/conformance.
#
#   ci/install-tools.sh [K8S_MINOR]      e.g. ci/install-tools.sh 1.31
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
versions="$root/harness/backends/versions.py"
minor="${1:-$(python3 "$versions" --matrix | python3 -c 'import json,sys; print(json.load(sys.stdin)[0])')}"
kind_version="$(python3 "$versions" --kind-version)"
kube_version="$(python3 "$versions" --node-version "$minor")"
bin_dir="${BIN_DIR:-/usr/local/bin}"
case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "unsupported machine $(uname -m)" >&2; exit 1 ;;
esac

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

fetch() { curl -fsSL --retry 3 -o "$1" "$2"; }

# kind: <binary>.sha256sum holds "<sha256>  <name>"
fetch "$tmp/kind" "https://github.com/kubernetes-sigs/kind/releases/download/$kind_version/kind-linux-$arch"
fetch "$tmp/kind.sha256sum" "https://github.com/kubernetes-sigs/kind/releases/download/$kind_version/kind-linux-$arch.sha256sum"
echo "$(cut -d' ' -f1 "$tmp/kind.sha256sum")  $tmp/kind" | sha256sum -c -

# kubectl: <binary>.sha256 holds the bare digest
fetch "$tmp/kubectl" "https://dl.k8s.io/release/$kube_version/bin/linux/$arch/kubectl"
fetch "$tmp/kubectl.sha256" "https://dl.k8s.io/release/$kube_version/bin/linux/$arch/kubectl.sha256"
echo "$(cat "$tmp/kubectl.sha256")  $tmp/kubectl" | sha256sum -c -

for tool in kind kubectl; do
  if [ -w "$bin_dir" ]; then install -m 0755 "$tmp/$tool" "$bin_dir/$tool"
  else sudo install -m 0755 "$tmp/$tool" "$bin_dir/$tool"; fi
done
echo "installed kind $kind_version and kubectl $kube_version into $bin_dir"
