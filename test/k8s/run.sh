#!/usr/bin/env bash
# run.sh: offline tests of the shardroute Kubernetes deployment (k8s/): no cluster, no network
# at test time. Installs its Node packages (npm ci) and yamllint first when they are missing.
#
# Checks: yamllint on every manifest; shellcheck on the scripts (when installed); the
# kustomization lists every manifest and builds (kubectl kustomize, when kubectl is installed);
# test/k8s/validate.js accepts the 3-shard deployment and the generator's 1-, 2- and 6-shard
# variants, and rejects every file in test/k8s/broken/ for the reason its "# expect:" line
# names, and for no other; k8s/postgres-sharded.yaml equals `k8s/generate-shards.sh 3`; the
# coordinator image's helper script builds shard URLs correctly; the Dockerfile wiring is in
# place; the npm lock file names no download hosts.
#
# Prints "ok - ..." / "not ok - ..." per check and ends with "N passed, N failed"; exits 1 when
# anything failed.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
K8S=$ROOT/k8s
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

passed=0
failed=0
skipped=0

ok() {
	passed=$((passed + 1))
	echo "ok - $1"
}

not_ok() {
	failed=$((failed + 1))
	echo "not ok - $1"
	if [[ -n ${2:-} ]]; then
		while IFS= read -r line; do printf '    %s\n' "$line"; done <<<"$2" | head -40
	fi
}

skip() {
	skipped=$((skipped + 1))
	echo "ok - $1 # SKIP $2"
}

# check NAME COMMAND...: runs COMMAND; passes when it exits 0.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name" "$out"; fi
}

finish() {
	local line="${passed} passed, ${failed} failed"
	((skipped > 0)) && line+=", ${skipped} skipped"
	echo "$line"
	((failed == 0))
	exit $?
}

validate() {
	node "$HERE/validate.js" "$@"
}

# ------------------------------------------------------------------ tools

if ! command -v node >/dev/null; then
	not_ok "node is installed" "node (20 or later) is needed"
	finish
fi

if [[ ! -f $HERE/node_modules/.package-lock.json ]] ||
	! (cd "$HERE" && node -e 'require("yaml"); require("kubernetes-models/v1")') 2>/dev/null; then
	echo "# installing Node packages (npm ci) in test/k8s"
	if ! out=$(cd "$HERE" && npm ci --no-audit --no-fund --prefer-offline 2>&1); then
		not_ok "npm ci in test/k8s" "$out"
		finish
	fi
fi

if ! command -v yamllint >/dev/null && [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
	echo "# installing yamllint"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q yamllint >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q yamllint >/dev/null 2>&1; }
fi

# ------------------------------------------------------------------ the file set

cd "$ROOT" || exit 1
mapfile -t KUSTOMIZE_RESOURCES < <(sed -n '/^resources:/,/^[^ ]/s/^  - //p' "$K8S/kustomization.yaml")
GOOD=(k8s/kustomization.yaml k8s/secret.example.yaml)
for r in "${KUSTOMIZE_RESOURCES[@]}"; do GOOD+=("k8s/$r"); done
# The good set without the 3-shard tier, to combine with other generated shard counts.
REST=()
for f in "${GOOD[@]}"; do [[ $f == k8s/postgres-sharded.yaml ]] || REST+=("$f"); done

# ------------------------------------------------------------------ lint

if command -v yamllint >/dev/null; then
	check "yamllint: k8s/ manifests" yamllint -s -c k8s/.yamllint k8s
	k8s/generate-shards.sh 6 >"$WORK/postgres-sharded-6way.yaml"
	check "yamllint: generated 6-shard manifest" yamllint -s -c k8s/.yamllint "$WORK/postgres-sharded-6way.yaml"
	bad=''
	for f in test/k8s/broken/*.yaml; do
		if grep -q '^# yamllint: fail' "$f"; then
			yamllint -s -c k8s/.yamllint "$f" >/dev/null 2>&1 && bad+="$f: expected yamllint to fail"$'\n'
		else
			yamllint -s -c k8s/.yamllint "$f" >"$WORK/lint" 2>&1 || bad+="$(cat "$WORK/lint")"$'\n'
		fi
	done
	if [[ -z $bad ]]; then ok "yamllint: broken manifests are well-formed YAML except where marked"; else not_ok "yamllint: broken manifests" "$bad"; fi
else
	not_ok "yamllint is installed" "install it: apt-get install yamllint"
fi

if command -v shellcheck >/dev/null; then
	check "shellcheck: deployment scripts" shellcheck k8s/generate-shards.sh k8s/image/shardroute-k8s \
		k8s/image/10-shardroute.sh test/k8s/run.sh
else
	skip "shellcheck: deployment scripts" "shellcheck is not installed"
fi

# ------------------------------------------------------------------ kustomization

missing=''
for f in k8s/*.yaml; do
	case $f in
	k8s/kustomization.yaml | k8s/secret.example.yaml | k8s/postgres-sharded-*way.yaml) continue ;;
	esac
	printf '%s\n' "${KUSTOMIZE_RESOURCES[@]}" | grep -qx "${f#k8s/}" || missing+="$f is not listed"$'\n'
done
if [[ -z $missing ]]; then ok "kustomization.yaml lists every manifest"; else not_ok "kustomization.yaml lists every manifest" "$missing"; fi
if grep -q '^ *- *secret\.example\.yaml' k8s/kustomization.yaml; then
	not_ok "kustomization.yaml leaves out the example Secret"
else
	ok "kustomization.yaml leaves out the example Secret"
fi

if command -v kubectl >/dev/null; then
	if out=$(kubectl kustomize k8s 2>&1); then
		built=$(grep -c '^kind: ' <<<"$out")
		listed=$(validate "${GOOD[@]}" | sed -n 's/^validate: \([0-9]*\) objects.*/\1/p')
		# The validated set also holds the example Secret, which kustomize leaves out.
		if [[ -n $listed && $built -eq $((listed - 1)) ]]; then
			ok "kubectl kustomize k8s builds all ${built} objects"
		else
			not_ok "kubectl kustomize k8s builds all objects" "built ${built}, expected $((listed - 1))"
		fi
	else
		not_ok "kubectl kustomize k8s builds" "$out"
	fi
else
	skip "kubectl kustomize k8s builds" "kubectl is not installed"
fi

# ------------------------------------------------------------------ valid manifests

check "validate: 3-shard deployment (kustomization resources + example Secret)" validate "${GOOD[@]}"

if out=$(k8s/generate-shards.sh 3 | diff -u k8s/postgres-sharded.yaml - 2>&1); then
	ok "k8s/postgres-sharded.yaml equals generate-shards.sh 3"
else
	not_ok "k8s/postgres-sharded.yaml equals generate-shards.sh 3" "$out"
fi

k8s/generate-shards.sh 3 -o "$WORK/three.yaml"
check "generate-shards.sh -o writes the same as stdout" cmp -s "$WORK/three.yaml" k8s/postgres-sharded.yaml

for n in 1 2 6; do
	k8s/generate-shards.sh "$n" >"$WORK/shards-$n.yaml"
	check "validate: generated ${n}-shard deployment" validate "$WORK/shards-$n.yaml" "${REST[@]}"
done
if [[ $(grep -c '^kind: StatefulSet' "$WORK/shards-6.yaml") -eq 6 ]] &&
	grep -q 'DATABASE_SHARD_MODE: "6way"' "$WORK/shards-6.yaml" &&
	grep -q 'DATABASE_SHARD_5_URL: "postgresql+asyncpg://trading_user@postgres-shard-5:5432/trading_db"' "$WORK/shards-6.yaml"; then
	ok "generate-shards.sh 6 writes 6 shards and the 6way shard map"
else
	not_ok "generate-shards.sh 6 writes 6 shards and the 6way shard map"
fi

# Generated variants kept in k8s/ (postgres-sharded-<N>way.yaml) must be current and valid.
for f in k8s/postgres-sharded-*way.yaml; do
	[[ -e $f ]] || continue
	n=${f#k8s/postgres-sharded-}
	n=${n%way.yaml}
	if k8s/generate-shards.sh "$n" | cmp -s "$f" -; then
		ok "$f equals generate-shards.sh $n"
	else
		not_ok "$f equals generate-shards.sh $n"
	fi
	check "validate: $f with the rest of the deployment" validate "$f" "${REST[@]}"
done

bad=''
for arg in 0 65 x -1 ''; do
	k8s/generate-shards.sh "$arg" >/dev/null 2>&1 && bad+="accepted '$arg'"$'\n'
done
if [[ -z $bad ]]; then ok "generate-shards.sh rejects bad shard counts"; else not_ok "generate-shards.sh rejects bad shard counts" "$bad"; fi

# ------------------------------------------------------------------ broken manifests

for f in test/k8s/broken/*.yaml; do
	name=$(basename "$f" .yaml)
	expect=$(sed -n 's/^# expect: //p' "$f")
	if [[ -z $expect ]]; then
		not_ok "broken/$name: has an '# expect:' line"
		continue
	fi
	out=$(validate k8s/secret.example.yaml "$f" 2>&1)
	rc=$?
	codes=$(grep -o '\[[a-z-]*\]' <<<"$out" | tr -d '[]' | sort -u | tr '\n' ' ')
	if [[ $rc -eq 1 && " $codes" == " $expect " ]]; then
		ok "broken/$name is rejected: $expect"
	else
		not_ok "broken/$name is rejected for '$expect' only (exit $rc, got: ${codes:-nothing})" "$out"
	fi
done

# ------------------------------------------------------------------ one defect in the real set

# mutate FILE SED-SCRIPT CODE: validates the 3-shard set with FILE edited by SED-SCRIPT; the
# set must be rejected for CODE and nothing else.
mutate() {
	local file=$1 script=$2 expect=$3 set=() f out rc codes
	mkdir -p "$WORK/mutated"
	sed "$script" "$file" >"$WORK/mutated/$(basename "$file")"
	if cmp -s "$file" "$WORK/mutated/$(basename "$file")"; then
		not_ok "mutation of $file ($script) changes the file"
		return
	fi
	for f in "${GOOD[@]}"; do
		if [[ $f == "$file" ]]; then set+=("$WORK/mutated/$(basename "$file")"); else set+=("$f"); fi
	done
	out=$(validate "${set[@]}" 2>&1)
	rc=$?
	codes=$(grep -o '\[[a-z-]*\]' <<<"$out" | tr -d '[]' | sort -u | tr '\n' ' ')
	if [[ $rc -eq 1 && " $codes" == " $expect " ]]; then
		ok "3-shard set with $file edited ($script) is rejected: $expect"
	else
		not_ok "3-shard set with $file edited ($script) is rejected for '$expect' only (exit $rc, got: ${codes:-nothing})" "$out"
	fi
}

mutate k8s/coordinator.yaml 's/shared_preload_libraries=shardroute/shared_preload_libraries=pg_stat_statements/' coordinator-settings
mutate k8s/coordinator.yaml 's/name: shardroute-shard-map/name: shardroute-shards/' missing-configmap
mutate k8s/network-policy.yaml 's/app: shardroute-coordinator/app: shardroute-coordinater/' selector-mismatch
# shellcheck disable=SC2016 # $(VAR) is Kubernetes syntax, kept literal on purpose
mutate k8s/hft-backend.yaml 's/$(DATABASE_PASSWORD)/trading_password/' literal-password
mutate k8s/hft-backend.yaml 's/value: "false"/value: false/' schema
mutate k8s/postgres-sharded.yaml 's/@postgres-shard-2:5432/@postgres-shard-1:5432/' shard-mismatch
mutate k8s/postgres-sharded.yaml 's/DATABASE_SHARD_MODE: "3way"/DATABASE_SHARD_MODE: "6way"/' shard-mode
mutate k8s/pod-disruption-budgets.yaml 's/app: hft-backend/app: hft-backnd/' selector-mismatch
mutate k8s/postgres-sharded.yaml 's/^  name: hft-trading$/  name: hft-trade/' namespace

# ------------------------------------------------------------------ coordinator image helper

helper=k8s/image/shardroute-k8s
out=$(env -i PATH="$PATH" DATABASE_SHARD_MODE=2way \
	DATABASE_SHARD_0_URL='postgresql+asyncpg://trading_user@postgres-shard-0:5432/trading_db' \
	DATABASE_SHARD_1_URL='postgresql+asyncpg://trading_user:kept@postgres-shard-1:5432/trading_db' \
	SHARD_PASSWORD='p@ss:w/rd é' SHARDROUTE_REGISTER_CMD=env "$helper" register 2>/dev/null)
if grep -qx 'DATABASE_SHARD_0_URL=postgresql+asyncpg://trading_user:p%40ss%3Aw%2Frd%20%C3%A9@postgres-shard-0:5432/trading_db' <<<"$out" &&
	grep -qx 'DATABASE_SHARD_1_URL=postgresql+asyncpg://trading_user:kept@postgres-shard-1:5432/trading_db' <<<"$out"; then
	ok "image helper: register adds the percent-encoded password, keeps an existing one"
else
	not_ok "image helper: register adds the percent-encoded password, keeps an existing one" "$out"
fi

bad=''
env -i PATH="$PATH" DATABASE_SHARD_MODE=3 SHARDROUTE_REGISTER_CMD=true "$helper" register >/dev/null 2>&1 &&
	bad+="accepted DATABASE_SHARD_MODE=3"$'\n'
env -i PATH="$PATH" DATABASE_SHARD_MODE=2way DATABASE_SHARD_0_URL=postgresql://u@h/db SHARDROUTE_REGISTER_CMD=true \
	"$helper" register >/dev/null 2>&1 && bad+="accepted a missing DATABASE_SHARD_1_URL"$'\n'
if [[ -z $bad ]]; then ok "image helper: register rejects an inconsistent shard map"; else not_ok "image helper: register rejects an inconsistent shard map" "$bad"; fi

if command -v pg_isready >/dev/null; then
	if env -i PATH="$PATH" DATABASE_SHARD_MODE=1way DATABASE_SHARD_0_URL='postgresql://u@127.0.0.1:1/db' \
		SHARDROUTE_SHARD_WAIT_SECONDS=1 timeout 60 "$helper" wait-shards >/dev/null 2>&1; then
		not_ok "image helper: wait-shards gives up on a shard that never answers"
	else
		ok "image helper: wait-shards gives up on a shard that never answers"
	fi
else
	skip "image helper: wait-shards gives up on a shard that never answers" "pg_isready is not installed"
fi

# ------------------------------------------------------------------ Dockerfile and packaging

bad=''
[[ $(grep -cF "FROM \${PG_IMAGE}" k8s/Dockerfile) -eq 2 ]] && grep -q '^ARG PG_IMAGE=postgres:15$' k8s/Dockerfile ||
	bad+="both stages must start from postgres:15"$'\n'
grep -q 'postgresql-server-dev-15' k8s/Dockerfile || bad+="builder does not install postgresql-server-dev-15"$'\n'
grep -q 'make install .*DESTDIR=/out' k8s/Dockerfile || bad+="no make install DESTDIR=/out"$'\n'
grep -q 'shared_preload_libraries=shardroute' k8s/Dockerfile || bad+="no shared_preload_libraries=shardroute"$'\n'
while IFS= read -r f; do
	case $f in
	test/data/*) ;; # shipped by the project's tests; checked below
	*) [[ -e $f ]] || bad+="Dockerfile copies $f, which does not exist"$'\n' ;;
	esac
done < <(grep -o '/src/[^ ;]*' k8s/Dockerfile | sed 's|^/src/||' | sort -u)
[[ -x k8s/image/shardroute-k8s && -x k8s/image/10-shardroute.sh ]] || bad+="image scripts are not executable"$'\n'
if [[ -z $bad ]]; then ok "Dockerfile builds from postgres:15 and installs the extension and init scripts"; else not_ok "Dockerfile wiring" "$bad"; fi

if [[ -f test/data/trading-schema.sql ]]; then
	ok "test/data/trading-schema.sql (loaded by the coordinator image) exists"
else
	skip "test/data/trading-schema.sql (loaded by the coordinator image) exists" "not in the tree yet"
fi

if grep -q '"resolved"' test/k8s/package-lock.json; then
	not_ok "package-lock.json has no resolved download addresses"
else
	ok "package-lock.json has no resolved download addresses"
fi

finish
