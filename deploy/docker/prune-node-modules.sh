#!/bin/sh
# Removes from a production node_modules what a running daemon never reads, for the runtime image
# (Dockerfile, stage `deps`). Also run by hand to estimate the image size (docs/scale-out.md).
#   sh deploy/docker/prune-node-modules.sh node_modules
set -eu
nm="${1:?usage: prune-node-modules.sh NODE_MODULES_DIR}"
[ -d "$nm" ] || { echo "prune-node-modules: $nm is not a directory" >&2; exit 2; }

# better-sqlite3: only the compiled addon is loaded (build/Release/better_sqlite3.node, found by
# `bindings`); the SQLite amalgamation, the C++ sources and the object files are build inputs (~25 MB).
b="$nm/better-sqlite3"
if [ -f "$b/build/Release/better_sqlite3.node" ]; then
  mv "$b/build/Release/better_sqlite3.node" "$b/better_sqlite3.node.keep"
  rm -rf "$b/build" "$b/deps" "$b/src"
  mkdir -p "$b/build/Release"
  mv "$b/better_sqlite3.node.keep" "$b/build/Release/better_sqlite3.node"
fi

# js-tiktoken: src/llm/tokens.ts loads `js-tiktoken/lite` and `require`s one
# `js-tiktoken/ranks/<encoding>` (the .cjs file); the full bundles (every encoding inlined, ~11 MB)
# and the ES-module copies of the ranks (~5 MB) are never loaded.
rm -f "$nm/js-tiktoken/dist/index.js" "$nm/js-tiktoken/dist/index.cjs" "$nm"/js-tiktoken/dist/ranks/*.js

# Packages' own test suites and examples, at their top level only (~7 MB; fastify, bintrees, pino…).
for d in "$nm"/*/ "$nm"/@*/*/; do
  for sub in test tests __tests__ example examples; do
    if [ -d "$d$sub" ]; then rm -rf "$d$sub"; fi
  done
done

# Source maps, type declarations and markdown: never read at run time (licences are kept).
find "$nm" -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.md' -o -name '*.markdown' \) ! -iname 'licen[cs]e*' -delete
