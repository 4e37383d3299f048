#!/usr/bin/env bash
# tools/packaging/check_example_config.sh RECGW_BINARY [EXAMPLE]
# The packaged /etc/recgw/recgw.toml (default: tools/packaging/recgw.toml next to this
# script) must list every key the binary knows, commented out as `#key = default`, and
# nothing else: this fails, naming the keys, when a key is added, renamed or its default
# changed without the example following. The example must also load as it is.
set -euo pipefail
binary="${1:?usage: check_example_config.sh RECGW_BINARY [EXAMPLE]}"
example="${2:-$(dirname "${BASH_SOURCE[0]}")/recgw.toml}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { printf 'check_example_config: %s: %s\n' "$example" "$*" >&2; exit 1; }

# A clean environment: RECGW_* variables of the caller must not change what "default" means.
run() { env -i "$binary" check-config "$@" 2>"$work/stderr"; }

run --config "$example" >/dev/null || fail "does not load: $(cat "$work/stderr")"
run >"$work/defaults" || fail "recgw check-config failed: $(cat "$work/stderr")"
sed -E 's/^#([a-z][a-z0-9_]*) = /\1 = /' "$example" >"$work/uncommented.toml"
run --config "$work/uncommented.toml" >"$work/stated" ||
  fail "its commented-out values do not load once uncommented: $(cat "$work/stderr")"

# section.key of every key line, in a TOML file rendered or written as key = value.
keys() { awk '/^\[[a-z0-9_]+\]$/ { s = substr($0, 2, length($0) - 2) } /^[a-z][a-z0-9_]* = / { print s "." $1 }' "$1" | sort; }
keys "$work/defaults" >"$work/known"
keys "$work/uncommented.toml" >"$work/listed"
missing="$(comm -23 "$work/known" "$work/listed" | tr '\n' ' ')"
[ -z "$missing" ] || fail "keys missing from the example: $missing"
duplicated="$(uniq -d "$work/listed" | tr '\n' ' ')"
[ -z "$duplicated" ] || fail "keys listed twice: $duplicated"
if ! diff -u "$work/defaults" "$work/stated" >"$work/diff"; then
  fail "these commented-out values are not the defaults (- default, + example):
$(grep -E '^[-+][a-z]' "$work/diff")"
fi
echo "check_example_config: $example lists all $(wc -l <"$work/known") keys with their defaults"
