#!/usr/bin/env bash
# Installs what the tests need and this machine lacks. Idempotent: a program
# already on PATH and Node packages already installed are left alone.
#
# Add a line to APT when a test starts needing a program (program, then the
# Debian package that provides it), and to NPM when a conformance test needs
# a Node client. Node packages go into .deps/node (ignored by git); tests find
# them through internal/testenv.
set -euo pipefail
cd "$(dirname "$0")/.."

# program:debian-package
APT=(
  chromium:chromium
  curl:curl
  openssl:openssl
  pg_ctlcluster:postgresql
  protoc:protobuf-compiler
  redis-server:redis-server
)

# npm package specs, pinned
NPM=(
  ws@8.18.3
  eventsource@4.1.1
  @grpc/grpc-js@1.14.7
  @grpc/proto-loader@0.8.1
  tus-js-client@4.3.1
)

missing=()
for entry in "${APT[@]}"; do
  prog=${entry%%:*} pkg=${entry#*:}
  command -v "$prog" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "deps: missing ${missing[*]}; run as root or install them (apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "deps: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ((${#NPM[@]})); then
  dir=.deps/node
  mkdir -p "$dir"
  [[ -f $dir/package.json ]] || echo '{"private": true}' >"$dir/package.json"
  want=()
  for spec in "${NPM[@]}"; do
    name=${spec%@*}
    [[ $spec == @* && $name == "" ]] && name=$spec
    [[ -d $dir/node_modules/$name ]] || want+=("$spec")
  done
  if ((${#want[@]})); then
    echo "deps: npm install ${want[*]}"
    npm install --prefix "$dir" --no-audit --no-fund --silent "${want[@]}"
  fi
fi
echo "deps: ok"
