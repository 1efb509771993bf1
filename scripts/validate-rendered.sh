#!/usr/bin/env bash
# Renders every fixture of crates/kube/tests/fixtures, and every marketplace template of
# templates/ that runs on Kubernetes, every version (`satusky render --template NAME[@V]`, its
# defaults), and
# validates the objects against the schemas Kubernetes itself would apply:
#   - core kinds (ConfigMap, Secret, PersistentVolumeClaim, Deployment, Service,
#     HorizontalPodAutoscaler, PodDisruptionBudget): `kubernetes-validate --strict` for the
#     Kubernetes version k8s-openapi is built for (v1_33);
#   - HTTPRoute: `check-jsonschema` against the Gateway API CRD's own schema in
#     ../shared/schemas/gateway-api/httproute-v1.json (skipped, with a notice, without ../shared);
#   - VerticalPodAutoscaler, Certificate, ListenerSet: no schema here; covered by the snapshot
#     tests (crates/kube/tests/snapshots), named below as such.
# It also checks that the YAML reads back under YAML 1.1 (PyYAML, as kubectl's reader does)
# exactly as the JSON output says — no `Off` turning into `false`.
#
# Usage: scripts/validate-rendered.sh [PATH_TO_SATUSKY_BINARY]   (default target/debug/satusky)
# Needs: pip install kubernetes-validate check-jsonschema  (PyYAML comes with the first).
# Exits non-zero on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${1:-$root/target/debug/satusky}"
shared="${SATUSKY_SHARED:-$root/../shared}"
k8s_version="1.33.0" # k8s-openapi's v1_33 feature (root Cargo.toml)
httproute_schema="$shared/schemas/gateway-api/httproute-v1.json"

for tool in kubernetes-validate check-jsonschema python3; do
    command -v "$tool" >/dev/null || { echo "validate-rendered: $tool not found (pip install kubernetes-validate check-jsonschema)" >&2; exit 2; }
done
[ -x "$bin" ] || { echo "validate-rendered: no satusky binary at $bin (cargo build -p satusky)" >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

failures=0
declare -A counts=()
core_files=()
route_files=()

# render_one NAME ARG…: `satusky ARG… -o yaml` and `-o json`, checked against each other, split
# into one file per object, sorted by kind into core_files and route_files.
render_one() {
    local name="$1"
    shift
    local out="$work/$name"
    mkdir -p "$out"
    if ! "$bin" "$@" -o yaml >"$out/all.yaml" 2>"$out/err" ||
        ! "$bin" "$@" -o json >"$out/all.json" 2>>"$out/err"; then
        echo "FAIL $name: satusky render failed:"; sed 's/^/  /' "$out/err"
        failures=$((failures + 1)); return
    fi
    # One file per document: the emitter never writes a line `---` inside a document.
    awk -v dir="$out" '
        /^---$/ { n++; file = sprintf("%s/doc-%03d.yaml", dir, n); next }
        { print > file }
    ' "$out/all.yaml"
    # YAML 1.1 (PyYAML) must read exactly what the JSON output says.
    if ! python3 - "$out/all.yaml" "$out/all.json" <<'PY'
import json, sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
items = json.load(open(sys.argv[2]))["items"]
if docs != items:
    for i, (d, j) in enumerate(zip(docs, items)):
        if d != j:
            print(f"  document {i + 1} differs under YAML 1.1:\n    yaml: {d}\n    json: {j}")
    if len(docs) != len(items):
        print(f"  {len(docs)} YAML documents, {len(items)} JSON items")
    sys.exit(1)
PY
    then
        echo "FAIL $name: the YAML does not read back as the JSON under YAML 1.1"
        failures=$((failures + 1))
    fi
    for doc in "$out"/doc-*.yaml; do
        kind="$(sed -n 's/^kind: *//p' "$doc" | head -n1 | tr -d '"')"
        counts[$kind]=$(( ${counts[$kind]:-0} + 1 ))
        mv "$doc" "$out/$(basename "$doc" .yaml)-$kind.yaml"
        doc="$out/$(basename "$doc" .yaml)-$kind.yaml"
        case "$kind" in
            ConfigMap | Secret | PersistentVolumeClaim | Deployment | Service | HorizontalPodAutoscaler | PodDisruptionBudget)
                core_files+=("$doc") ;;
            HTTPRoute) route_files+=("$doc") ;;
            VerticalPodAutoscaler | Certificate | ListenerSet) ;;
            *) echo "FAIL $name: unexpected kind ${kind:-<none>} in $(basename "$doc")"; failures=$((failures + 1)) ;;
        esac
    done
    echo "rendered $name: $(ls "$out"/doc-*.yaml | wc -l) objects"
}

for fixture in "$root"/crates/kube/tests/fixtures/*.toml; do
    # Secrets as keys and versions, so the Secret and its envFrom are rendered and checked too.
    render_one "$(basename "$fixture" .toml)" \
        render "$fixture" --org acme --secret DATABASE_URL@2 --secret API_TOKEN@5
done

# The marketplace catalog (its secrets are rendered as keys by the template itself).
for dir in "$root"/templates/*/; do
    name="$(basename "$dir")"
    if ! grep -q '^\[runtimes\.kubernetes\]' "$dir/template.toml"; then
        echo "skipped template $name: it does not run on Kubernetes"
        continue
    fi
    render_one "template-$name" render --template "$name" --org acme
    # Older versions the catalog keeps (template@V.toml) render too: apps still run them.
    for old in "$dir"template@*.toml; do
        [ -e "$old" ] || continue
        version="$(basename "$old" .toml)"; version="${version#template@}"
        render_one "template-$name-v$version" render --template "$name@$version" --org acme
    done
done

echo
echo "kubernetes-validate --strict -k $k8s_version: ${#core_files[@]} core objects"
if [ "${#core_files[@]}" -gt 0 ]; then
    if ! kubernetes-validate --strict --quiet -k "$k8s_version" "${core_files[@]}"; then
        echo "FAIL kubernetes-validate"; failures=$((failures + 1))
    fi
fi

if [ -f "$httproute_schema" ]; then
    echo "check-jsonschema ($httproute_schema): ${#route_files[@]} HTTPRoutes"
    if [ "${#route_files[@]}" -gt 0 ] &&
        ! check-jsonschema --schemafile "$httproute_schema" "${route_files[@]}"; then
        echo "FAIL check-jsonschema HTTPRoute"; failures=$((failures + 1))
    fi
else
    echo "NOTICE: $httproute_schema not found: ${#route_files[@]} HTTPRoutes not schema-checked (snapshot tests only)"
fi

echo "snapshot tests only (no schema available here): VerticalPodAutoscaler ${counts[VerticalPodAutoscaler]:-0}, Certificate ${counts[Certificate]:-0}, ListenerSet ${counts[ListenerSet]:-0}"
echo -n "objects by kind:"
for kind in $(printf '%s\n' "${!counts[@]}" | sort); do echo -n " $kind=${counts[$kind]}"; done
echo

if [ "$failures" -gt 0 ]; then
    echo "validate-rendered: $failures failure(s)"
    exit 1
fi
echo "validate-rendered: all rendered objects valid"
