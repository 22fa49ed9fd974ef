#!/usr/bin/env bash
# Rebuilds this fork of github.com/twmb/franz-go/pkg/kmsg from the upstream
# module and applies Strata's hardening patch (see README.md). Run from the
# repository root: third_party/kmsg/update.sh [version]
set -euo pipefail
VERSION=${1:-v1.15.0}
DEST=third_party/kmsg
go mod download github.com/twmb/franz-go/pkg/kmsg@"$VERSION"
SRC=$(go env GOMODCACHE)/github.com/twmb/franz-go/pkg/kmsg@$VERSION
# Upstream's files overwrite ours; internal/kbin/budget.go is Strata's own.
cp -r "$SRC"/. "$DEST"/
chmod -R u+w "$DEST"
cd "$DEST"
# 1. Tag loops stop as soon as the input runs out (upstream spins through a
#    bogus count of up to 2^32 tags after the reader has gone bad); each tag
#    decoded is charged to the budget (ChargeTag reports the reader is good).
perl -0pi -e 's/for i := b\.Uvarint\(\); i > 0; i-- \{/for i := b.Uvarint(); i > 0 && b.ChargeTag(); i-- {/g' generated.go
perl -0pi -e 's/(func internalReadTags\(b \*kbin\.Reader\) Tags \{\n\tvar t Tags\n\tfor num := b\.Uvarint\(\); num > 0); num-- \{/$1 \&\& b.ChargeTag(); num-- {/' api.go
# 2. Every reader carries an allocation budget (internal/kbin/budget.go).
perl -0pi -e 's/type Reader struct \{\n\tSrc \[\]byte\n\tbad bool\n\}/type Reader struct {\n\tSrc []byte\n\tbad bool\n\n\tbudget   int\n\tbudgeted bool\n}/' internal/kbin/primitives.go
#    Every reader carries an allocation budget (a multiple of its input).
perl -pi -e 's/kbin\.Reader\{Src: (.*)\}$/kbin.NewReader($1)/' generated.go api.go record.go
# 3. Arrays are not allocated up front from the claimed count: a small
#    preallocation, then one element per element actually decoded, charged
#    against the budget; the loop ends when the input runs out.
perl -0pi -e 's/a = append\(a, make\(\[\][^,]+, l\)\.\.\.\)\n(\s*)\}\n(\s*)for i := int32\(0\); i < l; i\+\+ \{\n/a = kbin.Prealloc(a, l)\n$1}\n$2for i := int32(0); i < l && b.Ok(); i++ {\n$2\ta = kbin.Extend(&b, a)\n/g' generated.go
gofmt -l . | xargs -r gofmt -w
left=$(grep -c 'make(\[\][^,]*, l)' generated.go || true)
if [ "$left" != 0 ]; then echo "update.sh: $left array allocations left unpatched" >&2; exit 1; fi
